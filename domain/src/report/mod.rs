//! The arithmetic behind pipeline reports, as written in the metric
//! definitions: summary statistics, report periods and calendar buckets in
//! the organization's time zone, and the replay of a deal's event log.

pub mod stats;

pub use stats::{kaplan_meier_median, mean, median, nearest_rank, percentile_linear, ratio, Observation};
