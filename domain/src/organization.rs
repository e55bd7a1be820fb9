use std::{fmt, str::FromStr};

use rust_decimal::Decimal;

/// An IANA time zone name such as `Europe/Berlin`: calendar buckets of the
/// organization's reports are cut in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an IANA time zone name such as Europe/Berlin or UTC")]
pub struct TimeZoneError;

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, TimeZoneError> {
        chrono_tz::Tz::from_str(raw).map(Self).map_err(|_| TimeZoneError)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self(chrono_tz::UTC)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The lead score (0–100) at which a lead counts as marketing-qualified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqlThreshold(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 0 and 100")]
pub struct MqlThresholdError;

impl MqlThreshold {
    pub const DEFAULT: MqlThreshold = MqlThreshold(50);

    pub fn new(value: i64) -> Result<Self, MqlThresholdError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 100)
            .map(Self)
            .ok_or(MqlThresholdError)
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

/// How many units of the organization's base currency one unit of a foreign
/// currency is worth: strictly positive, at most 10 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRate(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeRateError {
    #[error("must be a decimal number such as \"1.0825\"")]
    NotADecimal,
    #[error("must be greater than 0")]
    NotPositive,
    #[error("must have at most 10 decimal places")]
    TooPrecise,
    #[error("must be at most 1000000000")]
    TooLarge,
}

impl ExchangeRate {
    pub fn parse(raw: &str) -> Result<Self, ExchangeRateError> {
        let rate = Decimal::from_str_exact(raw.trim()).map_err(|_| ExchangeRateError::NotADecimal)?;
        if rate <= Decimal::ZERO {
            Err(ExchangeRateError::NotPositive)
        } else if rate.scale() > 10 {
            Err(ExchangeRateError::TooPrecise)
        } else if rate > Decimal::from(1_000_000_000) {
            Err(ExchangeRateError::TooLarge)
        } else {
            Ok(Self(rate.normalize()))
        }
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// A tenant: every other record belongs to exactly one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: uuid::Uuid,
    pub name: crate::Name,
    pub base_currency: crate::Currency,
    pub timezone: TimeZone,
    pub mql_threshold: MqlThreshold,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The settings an admin may change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrganizationChanges {
    pub name: Option<crate::Name>,
    pub base_currency: Option<crate::Currency>,
    pub timezone: Option<TimeZone>,
    pub mql_threshold: Option<MqlThreshold>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_parse_and_abbreviations_do_not() {
        assert_eq!(TimeZone::parse("Europe/Berlin").unwrap().name(), "Europe/Berlin");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("").is_err());
        assert_eq!(TimeZone::default().name(), "UTC");
    }

    #[test]
    fn mql_threshold_is_a_score() {
        assert_eq!(MqlThreshold::new(0).unwrap().value(), 0);
        assert_eq!(MqlThreshold::new(100).unwrap().value(), 100);
        assert!(MqlThreshold::new(101).is_err());
        assert!(MqlThreshold::new(-1).is_err());
    }

    #[test]
    fn exchange_rates_are_positive_decimals() {
        assert_eq!(ExchangeRate::parse("1.0825").unwrap().value().to_string(), "1.0825");
        assert_eq!(ExchangeRate::parse("2.50").unwrap().value().to_string(), "2.5");
        assert_eq!(ExchangeRate::parse("0"), Err(ExchangeRateError::NotPositive));
        assert_eq!(ExchangeRate::parse("-1"), Err(ExchangeRateError::NotPositive));
        assert_eq!(ExchangeRate::parse("abc"), Err(ExchangeRateError::NotADecimal));
        assert_eq!(ExchangeRate::parse("1e3"), Err(ExchangeRateError::NotADecimal));
        assert_eq!(ExchangeRate::parse("0.00000000001"), Err(ExchangeRateError::TooPrecise));
    }
}
