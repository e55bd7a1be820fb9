//! Summary statistics over plain numbers: means, medians, percentiles,
//! ratios and a Kaplan–Meier median. Every function answers `None` where the
//! figure is undefined (no values, a zero denominator) so that reports show
//! `null`, never NaN.

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// The middle value of `values` (in any order); the mean of the two middle
/// values for an even count; `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile: the value at rank ⌈p·n⌉ (1-based, at least 1)
/// of the sorted values. `None` for no values or a `p` outside [0, 1].
pub fn nearest_rank(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&p) {
        return None;
    }
    let sorted = sorted(values);
    let rank = ceil_rank(p, sorted.len()).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// ⌈p·n⌉, where a product within rounding error of a whole number counts as
/// that number: in floating point 0.07 · 100 is 7.000000000000001, whose
/// ceiling would be rank 8 instead of 7.
fn ceil_rank(p: f64, n: usize) -> usize {
    let exact = p * n as f64;
    let nearest = exact.round();
    let rank = if (exact - nearest).abs() <= 1e-9 * nearest.max(1.0) {
        nearest
    } else {
        exact.ceil()
    };
    rank as usize
}

/// Percentile by linear interpolation between closest ranks, as numpy's
/// default (`numpy.quantile(values, p)`, method `linear`): the virtual index
/// is (n − 1)·p into the sorted values. `None` for no values or a `p`
/// outside [0, 1].
pub fn percentile_linear(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&p) {
        return None;
    }
    let sorted = sorted(values);
    let last = sorted.len() - 1;
    let index = last as f64 * p;
    if index >= last as f64 {
        return Some(sorted[last]);
    }
    let below = index.floor();
    let (a, b) = (sorted[below as usize], sorted[below as usize + 1]);
    let t = index - below;
    // numpy's `_lerp`: interpolating from the nearer end keeps the result
    // exact at both ends and makes the figures match numpy's to the last bit.
    let diff = b - a;
    Some(if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t })
}

/// `numerator / denominator`; `None` when the denominator is 0.
pub fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

/// One duration for a survival estimate: either the time until the event
/// (`censored == false`), or the time observed so far without the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub days: f64,
    pub censored: bool,
}

/// Survival products are compared with 0.5 with this much slack, so that a
/// product that is exactly one half in rationals (3/4 · 2/3) is not missed
/// by a rounding error in the last bit.
const HALF_SLACK: f64 = 1e-12;

/// The Kaplan–Meier median: the smallest event duration d at which the
/// estimated survival S(d) = Π over the distinct event durations tᵢ ≤ d of
/// (1 − dᵢ / nᵢ) is at most 0.5. `None` when S never falls to 0.5 (or there
/// are no observations).
///
/// Ties: at a duration where events and censorings coincide, the censored
/// observations still count as at risk (in nᵢ), as if censoring happened
/// just after the events; the usual convention, and the one R's `survival`
/// and Python's `lifelines` use.
pub fn kaplan_meier_median(observations: &[Observation]) -> Option<f64> {
    let mut sorted = observations.to_vec();
    sorted.sort_by(|a, b| a.days.total_cmp(&b.days));
    let mut survival = 1.0;
    let mut start = 0;
    while start < sorted.len() {
        let days = sorted[start].days;
        let end = start + sorted[start..].iter().take_while(|o| o.days == days).count();
        let at_risk = (sorted.len() - start) as f64;
        let events = sorted[start..end].iter().filter(|o| !o.censored).count() as f64;
        if events > 0.0 {
            survival *= 1.0 - events / at_risk;
            if survival <= 0.5 + HALF_SLACK {
                return Some(days);
            }
        }
        start = end;
    }
    None
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 1e-12)
    }

    fn event(days: f64) -> Observation {
        Observation { days, censored: false }
    }

    fn censored(days: f64) -> Observation {
        Observation { days, censored: true }
    }

    #[test]
    fn the_mean_of_no_values_is_none() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_two_middle_values() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 10.0]), Some(3.5));
    }

    #[test]
    fn the_median_of_one_value_is_that_value_and_of_none_is_none() {
        assert_eq!(median(&[2.5]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn nearest_rank_p90_takes_the_value_at_rank_ceil_of_nine_tenths_of_n() {
        // Values 10, 20, …, in reverse so that sorting matters; rank r holds 10·r.
        let values = |n: usize| (1..=n).rev().map(|i| 10.0 * i as f64).collect::<Vec<_>>();
        // n = 1: ⌈0.9⌉ = 1.
        assert_eq!(nearest_rank(&values(1), 0.9), Some(10.0));
        // n = 9: ⌈8.1⌉ = 9.
        assert_eq!(nearest_rank(&values(9), 0.9), Some(90.0));
        // n = 10: ⌈9⌉ = 9, not 10.
        assert_eq!(nearest_rank(&values(10), 0.9), Some(90.0));
        // n = 11: ⌈9.9⌉ = 10.
        assert_eq!(nearest_rank(&values(11), 0.9), Some(100.0));
        // n = 20: ⌈18⌉ = 18.
        assert_eq!(nearest_rank(&values(20), 0.9), Some(180.0));
    }

    #[test]
    fn nearest_rank_is_not_pushed_up_a_rank_by_floating_point_error() {
        // 0.07 · 100 = 7.000000000000001 in floating point; the rank is 7.
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&hundred, 0.07), Some(7.0));
        // 0.28 · 25 = 7.000000000000001 likewise.
        let twenty_five: Vec<f64> = (1..=25).map(f64::from).collect();
        assert_eq!(nearest_rank(&twenty_five, 0.28), Some(7.0));
    }

    #[test]
    fn nearest_rank_is_at_least_rank_one_and_none_without_values() {
        assert_eq!(nearest_rank(&[3.0, 1.0, 2.0], 0.0), Some(1.0));
        assert_eq!(nearest_rank(&[3.0, 1.0, 2.0], 1.0), Some(3.0));
        assert_eq!(nearest_rank(&[], 0.9), None);
        assert_eq!(nearest_rank(&[1.0], 1.5), None);
        assert_eq!(nearest_rank(&[1.0], f64::NAN), None);
    }

    #[test]
    fn linear_percentiles_match_numpy() {
        // numpy.quantile([1, 2, 3, 4], q): index (n − 1)·q = 3q.
        let four = [4.0, 1.0, 3.0, 2.0];
        assert!(close(percentile_linear(&four, 0.5), 2.5)); // index 1.5
        assert!(close(percentile_linear(&four, 0.25), 1.75)); // index 0.75
        assert!(close(percentile_linear(&four, 0.75), 3.25)); // index 2.25
        assert!(close(percentile_linear(&four, 0.9), 3.7)); // index 2.7
        assert_eq!(percentile_linear(&four, 0.0), Some(1.0));
        assert_eq!(percentile_linear(&four, 1.0), Some(4.0));
        // numpy.quantile([10, 20, 30, 40, 50], q): index 4q.
        let five = [50.0, 10.0, 40.0, 20.0, 30.0];
        assert_eq!(percentile_linear(&five, 0.25), Some(20.0)); // index 1, exact
        assert!(close(percentile_linear(&five, 0.1), 14.0)); // index 0.4
        assert!(close(percentile_linear(&five, 0.6), 34.0)); // index 2.4
                                                             // numpy.quantile([1, 100], 0.5) = 50.5.
        assert_eq!(percentile_linear(&[100.0, 1.0], 0.5), Some(50.5));
    }

    #[test]
    fn linear_percentiles_of_one_value_or_none_are_that_value_or_none() {
        assert_eq!(percentile_linear(&[7.0], 0.3), Some(7.0));
        assert_eq!(percentile_linear(&[], 0.5), None);
        assert_eq!(percentile_linear(&[1.0, 2.0], -0.1), None);
    }

    #[test]
    fn a_ratio_with_a_zero_denominator_is_none() {
        assert_eq!(ratio(3, 0), None);
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
        assert_eq!(ratio(0, 5), Some(0.0));
    }

    #[test]
    fn without_censoring_the_km_median_is_where_half_have_ended() {
        // S(1) = 3/4, S(2) = 3/4 · 2/3 = 1/2.
        let durations = [event(4.0), event(2.0), event(1.0), event(3.0)];
        assert_eq!(kaplan_meier_median(&durations), Some(2.0));
        // S(1) = 2/3, S(2) = 1/3.
        assert_eq!(kaplan_meier_median(&[event(1.0), event(2.0), event(3.0)]), Some(2.0));
    }

    #[test]
    fn a_censored_stint_moves_the_km_median_later() {
        // S(1) = 3/4; 2 is censored, so at 3 two are at risk: S(3) = 3/4 · 1/2 = 3/8.
        let durations = [event(1.0), censored(2.0), event(3.0), event(4.0)];
        assert_eq!(kaplan_meier_median(&durations), Some(3.0));
    }

    #[test]
    fn when_everything_is_censored_there_is_no_km_median() {
        assert_eq!(kaplan_meier_median(&[censored(1.0), censored(5.0)]), None);
        assert_eq!(kaplan_meier_median(&[]), None);
    }

    #[test]
    fn when_survival_never_falls_to_one_half_there_is_no_km_median() {
        // S(1) = 3/4 and no later events.
        let durations = [event(1.0), censored(2.0), censored(3.0), censored(4.0)];
        assert_eq!(kaplan_meier_median(&durations), None);
    }

    #[test]
    fn a_censoring_at_the_same_duration_as_an_event_counts_as_at_risk_then() {
        // At 2: three at risk (2, 2 censored, 3), one event: S(2) = 2/3.
        // Were the censored one no longer at risk, S(2) would be 1/2 and the median 2.
        let durations = [event(2.0), censored(2.0), event(3.0)];
        assert_eq!(kaplan_meier_median(&durations), Some(3.0));
    }

    #[test]
    fn several_events_at_one_duration_drop_survival_together() {
        // At 1: three at risk, two events: S(1) = 1/3.
        assert_eq!(kaplan_meier_median(&[event(1.0), event(1.0), event(2.0)]), Some(1.0));
    }

    proptest! {
        #[test]
        fn nearest_rank_always_answers_one_of_the_values(
            values in prop::collection::vec(-1e6f64..1e6, 1..50),
            p in 0.0f64..=1.0,
        ) {
            let value = nearest_rank(&values, p).unwrap();
            prop_assert!(values.contains(&value));
        }

        #[test]
        fn the_median_lies_between_the_smallest_and_largest_value(
            values in prop::collection::vec(-1e6f64..1e6, 1..50),
        ) {
            let median = median(&values).unwrap();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min <= median && median <= max);
        }
    }
}
