//! Leads: people or companies that may become customers. A lead's status
//! follows a few rules (a converted lead is final; unqualifying needs a
//! reason) and the instants it first qualified and converted never move,
//! because funnel reports count them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{scoring::Score, Amount, Currency, MqlThreshold};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadStatus {
    New,
    Contacted,
    Qualified,
    Unqualified,
    Converted,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 5] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Unqualified,
        LeadStatus::Converted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Unqualified => "unqualified",
            LeadStatus::Converted => "converted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// The period an estimated value recurs in: absent means one-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValuePeriod {
    Month,
    Quarter,
    Year,
}

impl ValuePeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            ValuePeriod::Month => "month",
            ValuePeriod::Quarter => "quarter",
            ValuePeriod::Year => "year",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ValuePeriod::Month, ValuePeriod::Quarter, ValuePeriod::Year]
            .into_iter()
            .find(|p| p.as_str() == raw)
    }
}

/// ISO 3166-1 alpha-2, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Country(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an ISO 3166-1 alpha-2 country code such as \"DE\"")]
pub struct CountryError;

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted (so that
/// `binary_search` works). User-assigned codes such as XK are not in it.
pub const COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

impl Country {
    pub fn parse(raw: &str) -> Result<Self, CountryError> {
        let code = raw.trim().to_ascii_uppercase();
        if COUNTRY_CODES.binary_search(&code.as_str()).is_ok() {
            Ok(Self(code))
        } else {
            Err(CountryError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The part of a lead its status rules govern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadProgress {
    pub status: LeadStatus,
    pub unqualified_reason: Option<String>,
    pub qualified_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadStatusError {
    #[error("a converted lead cannot change status")]
    ConvertedIsFinal,
    #[error("a lead becomes converted only through conversion")]
    ConversionOnly,
    #[error("an unqualified lead needs an unqualified_reason")]
    ReasonRequired,
    #[error("the lead is already converted")]
    AlreadyConverted,
}

/// A blank reason is no reason.
fn reason_of(raw: Option<String>) -> Option<String> {
    raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty())
}

impl LeadProgress {
    /// A new lead in `status`: conversion creates contacts and deals, so no
    /// lead is created converted. A reason only sticks to an unqualified lead.
    pub fn new(
        status: LeadStatus,
        unqualified_reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, LeadStatusError> {
        if status == LeadStatus::Converted {
            return Err(LeadStatusError::ConversionOnly);
        }
        let unqualified_reason = match status {
            LeadStatus::Unqualified => Some(reason_of(unqualified_reason).ok_or(LeadStatusError::ReasonRequired)?),
            _ => None,
        };
        Ok(Self {
            status,
            unqualified_reason,
            qualified_at: (status == LeadStatus::Qualified).then_some(now),
            converted_at: None,
        })
    }

    /// Sets status (and reason). A converted lead is final; conversion is
    /// [`LeadProgress::convert`]'s job. Unqualifying needs a reason, except
    /// that an unqualified lead keeps its current one; leaving unqualified
    /// clears it. `qualified_at` is set the first time the lead qualifies and
    /// never moves afterwards, not even when it leaves qualified.
    pub fn set_status(
        &self,
        to: LeadStatus,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, LeadStatusError> {
        if self.status == LeadStatus::Converted {
            return Err(LeadStatusError::ConvertedIsFinal);
        }
        if to == LeadStatus::Converted {
            return Err(LeadStatusError::ConversionOnly);
        }
        let unqualified_reason = if to == LeadStatus::Unqualified {
            let kept = (self.status == LeadStatus::Unqualified)
                .then(|| self.unqualified_reason.clone())
                .flatten();
            Some(reason_of(reason).or(kept).ok_or(LeadStatusError::ReasonRequired)?)
        } else {
            None
        };
        Ok(Self {
            status: to,
            unqualified_reason,
            qualified_at: self.qualified_at.or((to == LeadStatus::Qualified).then_some(now)),
            converted_at: None,
        })
    }

    /// Conversion, from any status but converted. A converted lead counts as
    /// qualified, so `qualified_at` is filled in if it never was.
    pub fn convert(&self, now: DateTime<Utc>) -> Result<Self, LeadStatusError> {
        if self.status == LeadStatus::Converted {
            return Err(LeadStatusError::AlreadyConverted);
        }
        Ok(Self {
            status: LeadStatus::Converted,
            unqualified_reason: None,
            qualified_at: self.qualified_at.or(Some(now)),
            converted_at: Some(now),
        })
    }
}

/// `mql_at` after a score change: kept once set; set to `now` the first
/// time `score >= threshold`. A lead that drops below stays an MQL of then,
/// so that the MQL count of a past period never changes.
pub fn mql_at(
    current: Option<DateTime<Utc>>,
    score: Score,
    threshold: MqlThreshold,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    current.or((score.value() >= threshold.value()).then_some(now))
}

/// A lead as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub title: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub country: Option<Country>,
    pub source: Option<String>,
    pub estimated_value: Option<Amount>,
    pub currency: Currency,
    pub value_period: Option<ValuePeriod>,
    pub progress: LeadProgress,
    pub owner_id: Uuid,
    pub score: Score,
    pub mql_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub converted_contact_id: Option<Uuid>,
    pub converted_account_id: Option<Uuid>,
    pub converted_deal_id: Option<Uuid>,
    pub form_id: Option<Uuid>,
    /// The id a partner's system knows the lead by; unique in the organization.
    pub external_id: Option<String>,
    pub tags: crate::Tags,
    /// Values of the organization's custom fields for leads.
    pub custom_fields: crate::CustomValues,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    fn reason(r: &str) -> Option<String> {
        Some(r.to_owned())
    }

    fn lead(status: LeadStatus) -> LeadProgress {
        let r = (status == LeadStatus::Unqualified).then(|| "no budget".to_owned());
        LeadProgress::new(status, r, at(1)).unwrap()
    }

    #[test]
    fn statuses_and_periods_round_trip() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
        }
        for p in [ValuePeriod::Month, ValuePeriod::Quarter, ValuePeriod::Year] {
            assert_eq!(ValuePeriod::parse(p.as_str()), Some(p));
        }
        assert_eq!(LeadStatus::parse("New"), None);
        assert_eq!(ValuePeriod::parse("week"), None);
    }

    #[test]
    fn country_codes_are_the_249_assigned_ones_sorted() {
        assert_eq!(COUNTRY_CODES.len(), 249);
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(COUNTRY_CODES
            .iter()
            .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn countries_are_trimmed_and_upper_cased() {
        assert_eq!(Country::parse(" de ").unwrap().as_str(), "DE");
        assert_eq!(Country::parse("GB").unwrap().to_string(), "GB");
        for raw in ["UK", "XK", "EU", "DEU", "", "d", "ÄÖ"] {
            assert_eq!(Country::parse(raw), Err(CountryError), "{raw:?}");
        }
    }

    #[test]
    fn a_new_lead_cannot_be_converted_and_unqualified_needs_a_reason() {
        assert_eq!(
            LeadProgress::new(LeadStatus::Converted, None, at(1)),
            Err(LeadStatusError::ConversionOnly)
        );
        assert_eq!(
            LeadProgress::new(LeadStatus::Unqualified, None, at(1)),
            Err(LeadStatusError::ReasonRequired)
        );
        assert_eq!(
            LeadProgress::new(LeadStatus::Unqualified, reason("  "), at(1)),
            Err(LeadStatusError::ReasonRequired)
        );
        let unq = LeadProgress::new(LeadStatus::Unqualified, reason("no budget"), at(1)).unwrap();
        assert_eq!(unq.unqualified_reason.as_deref(), Some("no budget"));
        assert_eq!(unq.qualified_at, None);
    }

    #[test]
    fn a_new_lead_drops_a_stray_reason_and_qualified_sets_qualified_at() {
        let new = LeadProgress::new(LeadStatus::New, reason("ignored"), at(1)).unwrap();
        assert_eq!(
            new,
            LeadProgress {
                status: LeadStatus::New,
                unqualified_reason: None,
                qualified_at: None,
                converted_at: None
            }
        );
        let q = LeadProgress::new(LeadStatus::Qualified, None, at(1)).unwrap();
        assert_eq!(q.qualified_at, Some(at(1)));
    }

    #[test]
    fn a_converted_lead_is_final() {
        let converted = lead(LeadStatus::New).convert(at(2)).unwrap();
        for to in LeadStatus::ALL {
            assert_eq!(
                converted.set_status(to, reason("x"), at(3)),
                Err(LeadStatusError::ConvertedIsFinal),
                "{to:?}"
            );
        }
        assert_eq!(converted.convert(at(3)), Err(LeadStatusError::AlreadyConverted));
    }

    #[test]
    fn set_status_never_converts() {
        for from in [LeadStatus::New, LeadStatus::Qualified, LeadStatus::Unqualified] {
            assert_eq!(
                lead(from).set_status(LeadStatus::Converted, None, at(2)),
                Err(LeadStatusError::ConversionOnly)
            );
        }
    }

    #[test]
    fn unqualifying_needs_a_reason_and_keeps_the_current_one() {
        let new = lead(LeadStatus::New);
        assert_eq!(
            new.set_status(LeadStatus::Unqualified, None, at(2)),
            Err(LeadStatusError::ReasonRequired)
        );
        let unq = new
            .set_status(LeadStatus::Unqualified, reason("too small"), at(2))
            .unwrap();
        assert_eq!(unq.unqualified_reason.as_deref(), Some("too small"));
        let same = unq.set_status(LeadStatus::Unqualified, None, at(3)).unwrap();
        assert_eq!(same.unqualified_reason.as_deref(), Some("too small"));
        let changed = unq
            .set_status(LeadStatus::Unqualified, reason("no budget"), at(3))
            .unwrap();
        assert_eq!(changed.unqualified_reason.as_deref(), Some("no budget"));
        let left = unq.set_status(LeadStatus::Contacted, reason("ignored"), at(3)).unwrap();
        assert_eq!((left.status, left.unqualified_reason), (LeadStatus::Contacted, None));
    }

    #[test]
    fn qualified_at_is_set_once_and_never_moves() {
        let q = lead(LeadStatus::New)
            .set_status(LeadStatus::Qualified, None, at(2))
            .unwrap();
        assert_eq!(q.qualified_at, Some(at(2)));
        let again = q.set_status(LeadStatus::Qualified, None, at(3)).unwrap();
        assert_eq!(again.qualified_at, Some(at(2)));
        let left = q.set_status(LeadStatus::Unqualified, reason("gone"), at(4)).unwrap();
        assert_eq!(left.qualified_at, Some(at(2)));
        let back = left.set_status(LeadStatus::Qualified, None, at(5)).unwrap();
        assert_eq!(back.qualified_at, Some(at(2)));
        let converted = back.convert(at(6)).unwrap();
        assert_eq!(converted.qualified_at, Some(at(2)));
    }

    #[test]
    fn conversion_works_from_any_open_status() {
        for from in [
            LeadStatus::New,
            LeadStatus::Contacted,
            LeadStatus::Qualified,
            LeadStatus::Unqualified,
        ] {
            let c = lead(from).convert(at(2)).unwrap();
            assert_eq!(c.status, LeadStatus::Converted);
            assert_eq!(c.converted_at, Some(at(2)));
            assert_eq!(c.unqualified_reason, None);
            let expected_qualified = if from == LeadStatus::Qualified { at(1) } else { at(2) };
            assert_eq!(c.qualified_at, Some(expected_qualified), "{from:?}");
        }
    }

    #[test]
    fn mql_at_is_set_once_and_never_moves() {
        let threshold = MqlThreshold::new(50).unwrap();
        let score = |v| Score::new(v).unwrap();
        assert_eq!(mql_at(None, score(49), threshold, at(1)), None);
        assert_eq!(mql_at(None, score(50), threshold, at(1)), Some(at(1)));
        assert_eq!(mql_at(Some(at(1)), score(90), threshold, at(2)), Some(at(1)));
        assert_eq!(mql_at(Some(at(1)), score(0), threshold, at(3)), Some(at(1)));
    }
}
