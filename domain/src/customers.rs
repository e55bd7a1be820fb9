//! Customer economics (metrics.md, "Customers and acquisition"): calendar
//! months of spend, the share of a month a period covers, and the
//! geometric lifetime value.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(NaiveDate);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a month written YYYY-MM, such as 2026-03, between 1900-01 and 9999-12")]
pub struct MonthError;

impl Month {
    pub fn parse(raw: &str) -> Result<Self, MonthError> {
        let (year, month) = raw.split_once('-').ok_or(MonthError)?;
        if year.len() != 4 || month.len() != 2 || !(year.chars().chain(month.chars())).all(|c| c.is_ascii_digit()) {
            return Err(MonthError);
        }
        let year: i32 = year.parse().map_err(|_| MonthError)?;
        let month: u32 = month.parse().map_err(|_| MonthError)?;
        if year < 1900 {
            return Err(MonthError);
        }
        NaiveDate::from_ymd_opt(year, month, 1).map(Month).ok_or(MonthError)
    }

    /// The month of a date.
    pub fn of(date: NaiveDate) -> Self {
        Month(date.with_day(1).expect("every month has a first day"))
    }

    pub fn first_day(self) -> NaiveDate {
        self.0
    }

    pub fn next(self) -> Month {
        Month(self.0 + Months::new(1))
    }

    /// The part of this month that lies in the local period [from, to), in
    /// [0, 1]: the month's local time in the period over its length, so a
    /// period of whole days counts in days.
    pub fn share_in(self, from: NaiveDateTime, to: NaiveDateTime) -> Decimal {
        let start = self.0.and_hms_opt(0, 0, 0).expect("midnight");
        let end = self.next().0.and_hms_opt(0, 0, 0).expect("midnight");
        let (lo, hi) = (start.max(from), end.min(to));
        if hi <= lo {
            return Decimal::ZERO;
        }
        let seconds = |a: NaiveDateTime, b: NaiveDateTime| Decimal::from((b - a).num_seconds());
        seconds(lo, hi) / seconds(start, end)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.0.year(), self.0.month())
    }
}

/// avg_yearly_spend / (1 − retention), retention = retained / previous:
/// the classic geometric-lifetime estimate, written as avg × previous /
/// (previous − retained) so that it stays exact. `None` without previous
/// customers or when every one was retained.
pub fn lifetime_value(avg_yearly_spend: Decimal, previous: u64, retained: u64) -> Option<Decimal> {
    if previous == 0 || retained >= previous {
        return None;
    }
    Some(avg_yearly_spend * Decimal::from(previous) / Decimal::from(previous - retained))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> NaiveDateTime {
        NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(Month::parse("2026-03").unwrap().to_string(), "2026-03");
        assert_eq!(Month::parse("2026-03").unwrap().next().to_string(), "2026-04");
        assert_eq!(Month::parse("2026-12").unwrap().next().to_string(), "2027-01");
        for bad in [
            "2026-3",
            "2026-13",
            "2026-00",
            "26-03",
            "2026/03",
            "+026-03",
            "2026-03-01",
            "1899-12",
            "",
        ] {
            assert_eq!(Month::parse(bad), Err(MonthError), "{bad:?}");
        }
    }

    #[test]
    fn a_month_counts_by_the_days_of_it_in_the_period() {
        let march = Month::parse("2026-03").unwrap();
        // Wholly inside, wholly outside.
        assert_eq!(march.share_in(at("2026-01-01"), at("2027-01-01")), Decimal::ONE);
        assert_eq!(march.share_in(at("2026-04-01"), at("2026-05-01")), Decimal::ZERO);
        // March 16 to 31: 16 of its 31 days.
        assert_eq!(
            march.share_in(at("2026-03-16"), at("2026-04-10")),
            Decimal::from(16) / Decimal::from(31)
        );
        // February 2028 has 29 days; 7 of them.
        let feb = Month::parse("2028-02").unwrap();
        assert_eq!(
            feb.share_in(at("2028-02-01"), at("2028-02-08")),
            Decimal::from(7) / Decimal::from(29)
        );
    }

    #[test]
    fn lifetime_value_is_spend_over_churn() {
        // 4 customers a year ago, 3 retained: retention 0.75, churn 0.25: 1000 / 0.25 = 4000.
        assert_eq!(lifetime_value(Decimal::from(1000), 4, 3), Some(Decimal::from(4000)));
        assert_eq!(lifetime_value(Decimal::from(1000), 0, 0), None);
        assert_eq!(lifetime_value(Decimal::from(1000), 2, 2), None);
        // Nobody retained: one year of spend.
        assert_eq!(lifetime_value(Decimal::from(1000), 5, 0), Some(Decimal::from(1000)));
    }
}
