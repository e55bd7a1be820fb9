//! Report periods and calendar buckets. A report's period is a half-open
//! range of instants; days, months, quarters and years are calendar periods
//! in the organization's time zone, so a month in Europe/Berlin starts at
//! 22:00 or 23:00 UTC the evening before, depending on daylight saving time.

use chrono::{DateTime, MappedLocalTime, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, Utc};
use chrono::{Datelike, TimeZone as _};
use chrono_tz::Tz;

/// The length of the calendar buckets of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Month,
    Quarter,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Month => "month",
            Interval::Quarter => "quarter",
            Interval::Year => "year",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Interval::Day, Interval::Month, Interval::Quarter, Interval::Year]
            .into_iter()
            .find(|i| i.as_str() == raw)
    }

    /// The first day of the bucket that holds `date`.
    fn floor(self, date: NaiveDate) -> NaiveDate {
        let (year, month) = (date.year(), date.month());
        let first = |month| NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date);
        match self {
            Interval::Day => date,
            Interval::Month => first(month),
            Interval::Quarter => first((month - 1) / 3 * 3 + 1),
            Interval::Year => first(1),
        }
    }

    /// The first day of the next bucket; `None` past the last date chrono knows.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Interval::Day => start.succ_opt(),
            Interval::Month => start.checked_add_months(Months::new(1)),
            Interval::Quarter => start.checked_add_months(Months::new(3)),
            Interval::Year => start.checked_add_months(Months::new(12)),
        }
    }
}

/// The instants [from, to): `from` included, `to` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One end of a period as written in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Instant(DateTime<Utc>),
    /// Read as the local midnight that starts this date.
    Date(NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an RFC 3339 instant such as 2026-01-01T00:00:00Z or a date such as 2026-01-01")]
pub struct BoundError;

/// An RFC 3339 instant with any offset (`2026-01-01T00:00:00+02:00`,
/// `2026-01-01T00:00:00Z`), or a date `YYYY-MM-DD`.
pub fn parse_bound(raw: &str) -> Result<Bound, BoundError> {
    if is_plain_date(raw) {
        return NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Bound::Date)
            .map_err(|_| BoundError);
    }
    // chrono also takes a space between date and time (RFC 3339 allows it "for
    // readability"); in a query string that is more often a `+` offset that was
    // never percent-encoded, so it is refused rather than guessed at.
    if raw.as_bytes().get(10) == Some(&b' ') {
        return Err(BoundError);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|at| Bound::Instant(at.to_utc()))
        .map_err(|_| BoundError)
}

/// Exactly four, two and two ASCII digits: chrono's `%Y-%m-%d` alone would
/// also take `2026-1-1` and `+2026-01-01`.
fn is_plain_date(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// The local date of an instant in `tz`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The first instant of a local date. Where the clocks jump over midnight
/// (a daylight-saving gap, as in America/Havana) the day starts at the jump;
/// where midnight happens twice, at the first.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        MappedLocalTime::Single(at) => at.to_utc(),
        MappedLocalTime::Ambiguous(first, second) => first.min(second).to_utc(),
        MappedLocalTime::None => end_of_gap(midnight, tz),
    }
}

/// The instant at which the clocks jump over `local`, a local time that does
/// not exist: the first instant whose local time is at or after it.
fn end_of_gap(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let offset_at = |seconds: i64| {
        let utc = DateTime::from_timestamp(seconds, 0).unwrap_or_default().naive_utc();
        i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
    };
    let target = local.and_utc().timestamp();
    // A day either side is well clear of the one transition that makes the gap.
    let before = offset_at(target - 86_400);
    let after = offset_at(target + 86_400);
    // Read with the offset after the jump, `local` lies before it; read with
    // the offset before, after it. The jump is in between: search for it.
    let (mut lo, mut hi) = (target - after, target - before);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if mid + offset_at(mid) >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`from` is required when `to` is given")]
    MissingFrom,
    #[error("`from` must be before `to`")]
    FromNotBeforeTo,
    #[error("the period must be at most 10 years long")]
    TooLong,
}

/// The period a report covers. A date means the local midnight that starts
/// it, for `to` as well: `to=2026-02-01` runs up to, not including, the first
/// instant of February 1. With neither bound, the calendar month (in `tz`)
/// that contains `now`; with `from` alone, up to `now`.
pub fn resolve_period(
    from: Option<Bound>,
    to: Option<Bound>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Period, PeriodError> {
    let instant = |bound| match bound {
        Bound::Instant(at) => at,
        Bound::Date(date) => local_midnight(date, tz),
    };
    let (from, to) = match (from, to) {
        (None, None) => {
            let month = Interval::Month.floor(local_date(now, tz));
            let next = Interval::Month.next(month).unwrap_or(month);
            (local_midnight(month, tz), local_midnight(next, tz))
        }
        (Some(from), None) => (instant(from), now),
        (None, Some(_)) => return Err(PeriodError::MissingFrom),
        (Some(from), Some(to)) => (instant(from), instant(to)),
    };
    if from >= to {
        return Err(PeriodError::FromNotBeforeTo);
    }
    // Ten years on the local calendar: measured in UTC, March 1 to March 1
    // in Berlin would be refused when the later February has a 29th, and so
    // would dates whose daylight-saving offset differs between the two years.
    let (local_from, local_to) = (
        from.with_timezone(&tz).naive_local(),
        to.with_timezone(&tz).naive_local(),
    );
    if local_from
        .checked_add_months(Months::new(120))
        .is_some_and(|limit| local_to > limit)
    {
        return Err(PeriodError::TooLong);
    }
    Ok(Period { from, to })
}

/// One calendar period of a series: the instants [start, end), and the local
/// dates of its first day and of its last day (inclusive: `end_date` is the
/// day before the next bucket starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// The whole calendar periods that intersect the period, in order. They are
/// not clipped to it: the first starts at the boundary at or before `from`,
/// the last ends at the boundary at or after `to`, so that every bucket of a
/// series is comparable with the others. Empty for an empty period.
pub fn buckets(period: Period, interval: Interval, tz: Tz) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    let mut start_date = interval.floor(local_date(period.from, tz));
    let mut start = local_midnight(start_date, tz);
    while start < period.to {
        let Some(next_date) = interval.next(start_date) else {
            break;
        };
        let end = local_midnight(next_date, tz);
        buckets.push(Bucket {
            start,
            end,
            start_date,
            end_date: next_date.pred_opt().unwrap_or(start_date),
        });
        (start_date, start) = (next_date, end);
    }
    buckets
}

/// The bucket that holds `at`, for buckets as [`buckets`] makes them
/// (contiguous and in order).
pub fn bucket_index(buckets: &[Bucket], at: DateTime<Utc>) -> Option<usize> {
    let index = buckets.partition_point(|b| b.end <= at);
    buckets.get(index).filter(|b| b.start <= at).map(|_| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use chrono_tz::{America, Asia, Europe, UTC};

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().to_utc()
    }

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    fn dates(from: &str, to: &str, tz: Tz) -> Result<Period, PeriodError> {
        resolve_period(
            Some(Bound::Date(date(from))),
            Some(Bound::Date(date(to))),
            tz,
            at("2026-06-15T12:00:00Z"),
        )
    }

    fn starts(buckets: &[Bucket]) -> Vec<DateTime<Utc>> {
        buckets.iter().map(|b| b.start).collect()
    }

    #[test]
    fn intervals_print_and_parse_as_their_names() {
        for interval in [Interval::Day, Interval::Month, Interval::Quarter, Interval::Year] {
            assert_eq!(Interval::parse(interval.as_str()), Some(interval));
        }
        assert_eq!(Interval::parse("week"), None);
        assert_eq!(Interval::parse("Month"), None);
    }

    #[test]
    fn instants_parse_with_any_offset() {
        assert_eq!(
            parse_bound("2026-01-01T00:00:00+02:00"),
            Ok(Bound::Instant(at("2025-12-31T22:00:00Z")))
        );
        assert_eq!(
            parse_bound("2026-01-01T00:00:00Z"),
            Ok(Bound::Instant(at("2026-01-01T00:00:00Z")))
        );
        assert_eq!(
            parse_bound("2026-01-01T08:30:00.250-05:00"),
            Ok(Bound::Instant(at("2026-01-01T13:30:00.250Z")))
        );
        // RFC 3339 allows a lower-case `t` and `z`.
        assert_eq!(
            parse_bound("2026-01-01t00:00:00z"),
            Ok(Bound::Instant(at("2026-01-01T00:00:00Z")))
        );
    }

    #[test]
    fn dates_parse_as_dates() {
        assert_eq!(parse_bound("2026-02-28"), Ok(Bound::Date(date("2026-02-28"))));
    }

    #[test]
    fn lenient_or_partial_bounds_are_refused() {
        for raw in [
            "",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00Z",
            "2026-1-1",
            "+2026-01-01",
            "2026-02-30",
            "2026-01-01T00:00:00 02:00",
            " 2026-01-01",
            "2026-01-01 ",
            "20260101",
            "yesterday",
        ] {
            assert_eq!(parse_bound(raw), Err(BoundError), "{raw:?}");
        }
    }

    #[test]
    fn local_midnight_follows_daylight_saving_time() {
        assert_eq!(
            local_midnight(date("2026-01-15"), Europe::Berlin),
            at("2026-01-14T23:00:00Z")
        );
        assert_eq!(
            local_midnight(date("2026-07-15"), Europe::Berlin),
            at("2026-07-14T22:00:00Z")
        );
        assert_eq!(local_midnight(date("2026-07-15"), UTC), at("2026-07-15T00:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_clocks_jump() {
        // Cuba springs forward at 00:00 (UTC−5) to 01:00 (UTC−4).
        assert_eq!(
            local_midnight(date("2026-03-08"), America::Havana),
            at("2026-03-08T05:00:00Z")
        );
        // Lebanon at 00:00 (UTC+2) to 01:00 (UTC+3).
        assert_eq!(
            local_midnight(date("2026-03-29"), Asia::Beirut),
            at("2026-03-28T22:00:00Z")
        );
        // Chile at 24:00 (UTC−4) to 01:00 (UTC−3).
        assert_eq!(
            local_midnight(date("2026-09-06"), America::Santiago),
            at("2026-09-06T04:00:00Z")
        );
        // Brazil did the same until 2019.
        assert_eq!(
            local_midnight(date("2018-11-04"), America::Sao_Paulo),
            at("2018-11-04T03:00:00Z")
        );
    }

    #[test]
    fn a_day_whose_midnight_happens_twice_starts_at_the_first() {
        // Cuba falls back at 01:00 (UTC−4) to 00:00 (UTC−5).
        assert_eq!(
            local_midnight(date("2026-11-01"), America::Havana),
            at("2026-11-01T04:00:00Z")
        );
    }

    #[test]
    fn a_day_bucket_across_a_skipped_midnight_is_short() {
        let period = Period {
            from: at("2026-03-07T12:00:00Z"),
            to: at("2026-03-08T12:00:00Z"),
        };
        let days = buckets(period, Interval::Day, America::Havana);
        assert_eq!(
            days,
            vec![
                Bucket {
                    start: at("2026-03-07T05:00:00Z"),
                    end: at("2026-03-08T05:00:00Z"),
                    start_date: date("2026-03-07"),
                    end_date: date("2026-03-07"),
                },
                Bucket {
                    start: at("2026-03-08T05:00:00Z"),
                    end: at("2026-03-09T04:00:00Z"),
                    start_date: date("2026-03-08"),
                    end_date: date("2026-03-08"),
                },
            ]
        );
    }

    #[test]
    fn months_in_berlin_start_at_local_midnight_across_the_spring_change() {
        let period = dates("2026-03-01", "2026-05-01", Europe::Berlin).unwrap();
        let months = buckets(period, Interval::Month, Europe::Berlin);
        assert_eq!(
            months,
            vec![
                Bucket {
                    start: at("2026-02-28T23:00:00Z"),
                    end: at("2026-03-31T22:00:00Z"),
                    start_date: date("2026-03-01"),
                    end_date: date("2026-03-31"),
                },
                Bucket {
                    start: at("2026-03-31T22:00:00Z"),
                    end: at("2026-04-30T22:00:00Z"),
                    start_date: date("2026-04-01"),
                    end_date: date("2026-04-30"),
                },
            ]
        );
    }

    #[test]
    fn months_in_berlin_start_at_local_midnight_across_the_autumn_change() {
        let period = dates("2026-10-01", "2026-12-01", Europe::Berlin).unwrap();
        let months = buckets(period, Interval::Month, Europe::Berlin);
        assert_eq!(
            starts(&months),
            vec![at("2026-09-30T22:00:00Z"), at("2026-10-31T23:00:00Z")]
        );
        assert_eq!(months[1].end, at("2026-11-30T23:00:00Z"));
        assert_eq!(months[0].end_date, date("2026-10-31"));
    }

    #[test]
    fn a_day_bucket_on_the_day_of_the_spring_change_lasts_23_hours() {
        let period = dates("2026-03-29", "2026-03-30", Europe::Berlin).unwrap();
        let days = buckets(period, Interval::Day, Europe::Berlin);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].end - days[0].start, TimeDelta::hours(23));
    }

    #[test]
    fn quarters_over_a_year_start_in_january_april_july_and_october() {
        let period = dates("2026-01-01", "2027-01-01", Europe::Berlin).unwrap();
        let quarters = buckets(period, Interval::Quarter, Europe::Berlin);
        assert_eq!(
            starts(&quarters),
            vec![
                at("2025-12-31T23:00:00Z"),
                at("2026-03-31T22:00:00Z"),
                at("2026-06-30T22:00:00Z"),
                at("2026-09-30T22:00:00Z"),
            ]
        );
        assert_eq!(quarters[3].end, at("2026-12-31T23:00:00Z"));
        let last_days: Vec<_> = quarters.iter().map(|q| q.end_date).collect();
        assert_eq!(
            last_days,
            vec![
                date("2026-03-31"),
                date("2026-06-30"),
                date("2026-09-30"),
                date("2026-12-31")
            ]
        );
    }

    #[test]
    fn buckets_are_whole_calendar_periods_even_where_the_period_starts_or_ends_inside_one() {
        let period = Period {
            from: at("2026-02-14T10:00:00Z"),
            to: at("2026-05-10T10:00:00Z"),
        };
        let quarters = buckets(period, Interval::Quarter, UTC);
        assert_eq!(
            starts(&quarters),
            vec![at("2026-01-01T00:00:00Z"), at("2026-04-01T00:00:00Z")]
        );
        assert_eq!(quarters[1].end, at("2026-07-01T00:00:00Z"));
        let years = buckets(period, Interval::Year, UTC);
        assert_eq!(starts(&years), vec![at("2026-01-01T00:00:00Z")]);
        assert_eq!(years[0].end_date, date("2026-12-31"));
    }

    #[test]
    fn a_period_ending_on_a_boundary_has_no_bucket_after_it() {
        let period = dates("2026-01-01", "2026-03-01", UTC).unwrap();
        assert_eq!(buckets(period, Interval::Month, UTC).len(), 2);
    }

    #[test]
    fn an_empty_period_has_no_buckets() {
        let instant = at("2026-01-01T00:00:00Z");
        let period = Period {
            from: instant,
            to: instant,
        };
        assert!(buckets(period, Interval::Month, UTC).is_empty());
    }

    #[test]
    fn bucket_index_finds_the_bucket_holding_an_instant() {
        let period = dates("2026-01-01", "2026-04-01", Europe::Berlin).unwrap();
        let months = buckets(period, Interval::Month, Europe::Berlin);
        assert_eq!(bucket_index(&months, at("2025-12-31T23:00:00Z")), Some(0));
        assert_eq!(bucket_index(&months, at("2026-01-31T22:59:59Z")), Some(0));
        assert_eq!(bucket_index(&months, at("2026-01-31T23:00:00Z")), Some(1));
        assert_eq!(bucket_index(&months, at("2026-03-31T21:59:59Z")), Some(2));
        assert_eq!(bucket_index(&months, at("2026-03-31T22:00:00Z")), None);
        assert_eq!(bucket_index(&months, at("2025-12-31T22:59:59Z")), None);
        assert_eq!(bucket_index(&[], at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn the_local_date_of_an_instant_is_the_date_on_the_wall_clock() {
        assert_eq!(
            local_date(at("2026-03-31T22:30:00Z"), Europe::Berlin),
            date("2026-04-01")
        );
        assert_eq!(local_date(at("2026-03-31T22:30:00Z"), UTC), date("2026-03-31"));
    }

    #[test]
    fn a_to_date_is_excluded_from_the_period() {
        let period = dates("2026-01-01", "2026-02-01", Europe::Berlin).unwrap();
        assert_eq!(
            period,
            Period {
                from: at("2025-12-31T23:00:00Z"),
                to: at("2026-01-31T23:00:00Z"),
            }
        );
    }

    #[test]
    fn without_bounds_the_period_is_the_local_month_containing_now() {
        // 23:30 UTC on March 31 is already 01:30 on April 1 in Berlin.
        let period = resolve_period(None, None, Europe::Berlin, at("2026-03-31T23:30:00Z")).unwrap();
        assert_eq!(
            period,
            Period {
                from: at("2026-03-31T22:00:00Z"),
                to: at("2026-04-30T22:00:00Z"),
            }
        );
        let period = resolve_period(None, None, UTC, at("2026-03-31T23:30:00Z")).unwrap();
        assert_eq!(period.from, at("2026-03-01T00:00:00Z"));
        assert_eq!(period.to, at("2026-04-01T00:00:00Z"));
    }

    #[test]
    fn with_from_alone_the_period_runs_up_to_now() {
        let now = at("2026-06-15T12:00:00Z");
        let from = Some(Bound::Instant(at("2026-06-01T00:00:00+02:00")));
        let period = resolve_period(from, None, Europe::Berlin, now).unwrap();
        assert_eq!(
            period,
            Period {
                from: at("2026-05-31T22:00:00Z"),
                to: now,
            }
        );
        let future = Some(Bound::Date(date("2026-07-01")));
        assert_eq!(
            resolve_period(future, None, Europe::Berlin, now),
            Err(PeriodError::FromNotBeforeTo)
        );
    }

    #[test]
    fn to_without_from_is_refused() {
        let to = Some(Bound::Date(date("2026-07-01")));
        assert_eq!(
            resolve_period(None, to, UTC, at("2026-06-15T12:00:00Z")),
            Err(PeriodError::MissingFrom)
        );
    }

    #[test]
    fn from_must_be_before_to() {
        assert_eq!(
            dates("2026-02-01", "2026-02-01", UTC),
            Err(PeriodError::FromNotBeforeTo)
        );
        assert_eq!(
            dates("2026-02-02", "2026-02-01", UTC),
            Err(PeriodError::FromNotBeforeTo)
        );
        let mixed = resolve_period(
            Some(Bound::Instant(at("2026-01-31T23:00:00Z"))),
            Some(Bound::Date(date("2026-02-01"))),
            Europe::Berlin,
            at("2026-06-15T12:00:00Z"),
        );
        assert_eq!(mixed, Err(PeriodError::FromNotBeforeTo));
    }

    #[test]
    fn ten_years_is_the_longest_period() {
        assert!(dates("2026-01-01", "2036-01-01", UTC).is_ok());
        assert_eq!(dates("2026-01-01", "2036-01-02", UTC), Err(PeriodError::TooLong));
        assert!(dates("2026-01-01", "2036-01-01", Europe::Berlin).is_ok());
        assert_eq!(
            dates("2026-01-01", "2036-01-02", Europe::Berlin),
            Err(PeriodError::TooLong)
        );
        let instants = resolve_period(
            Some(Bound::Instant(at("2026-01-01T00:00:00Z"))),
            Some(Bound::Instant(at("2036-01-01T00:00:01Z"))),
            UTC,
            at("2026-06-15T12:00:00Z"),
        );
        assert_eq!(instants, Err(PeriodError::TooLong));
    }

    #[test]
    fn ten_years_are_counted_on_the_local_calendar() {
        // In UTC these start on the evening before, where adding 120 months
        // lands a day (Feb 28 vs 29) or an hour (daylight saving) short.
        assert!(dates("2026-03-01", "2036-03-01", Europe::Berlin).is_ok());
        assert!(dates("2026-03-30", "2036-03-30", Europe::Berlin).is_ok());
        assert_eq!(
            dates("2026-03-01", "2036-03-02", Europe::Berlin),
            Err(PeriodError::TooLong)
        );
    }
}
