//! The arithmetic behind pipeline reports, as written in the metric
//! definitions: summary statistics, report periods and calendar buckets in
//! the organization's time zone, and the replay of a deal's event log.

pub mod calendar;
pub mod history;
pub mod stats;

pub use calendar::{
    bucket_index, buckets, local_date, local_midnight, parse_bound, resolve_period, Bound, BoundError, Bucket,
    Interval, Period, PeriodError,
};
pub use history::{days_between, state_at, stints, DealStateAt, LoggedEvent, Stint, StintEnd};
pub use stats::{kaplan_meier_median, mean, median, nearest_rank, percentile_linear, ratio, Observation};
