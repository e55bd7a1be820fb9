//! Replaying one deal's event log: its state at an instant, and its stints
//! (stays in one stage). This is the plain reading of the metric definitions,
//! kept simple so that it can serve as the oracle the reports are tested
//! against.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::deal::{DealStatus, EventKind};

/// One event of a deal's log, with the stage it left the deal in: `won` and
/// `lost` carry the stage the deal closed in, `reopened` the stage it
/// reopened in.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
}

/// Events in log order: by `at`, ties in the order given. The sort is stable,
/// so events given in insertion order come out as the log orders them, even
/// where a backdated event was written after later ones.
fn in_log_order(events: &[LoggedEvent]) -> Vec<&LoggedEvent> {
    let mut ordered: Vec<&LoggedEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.at);
    ordered
}

/// A deal as it was at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DealStateAt {
    pub status: DealStatus,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    /// When the deal was last won or lost; `None` while it is open.
    pub closed_at: Option<DateTime<Utc>>,
}

/// The deal's state from its events with `at <= t`; `None` if it was not
/// created by then. Events before the first `created` are ignored.
pub fn state_at(events: &[LoggedEvent], t: DateTime<Utc>) -> Option<DealStateAt> {
    let mut state: Option<DealStateAt> = None;
    for event in in_log_order(events).into_iter().take_while(|e| e.at <= t) {
        let Some(state) = state.as_mut() else {
            if event.kind == EventKind::Created {
                state = Some(DealStateAt {
                    status: DealStatus::Open,
                    pipeline_id: event.pipeline_id,
                    stage_id: event.stage_id,
                    closed_at: None,
                });
            }
            continue;
        };
        state.pipeline_id = event.pipeline_id;
        state.stage_id = event.stage_id;
        match event.kind {
            EventKind::Won => (state.status, state.closed_at) = (DealStatus::Won, Some(event.at)),
            EventKind::Lost => (state.status, state.closed_at) = (DealStatus::Lost, Some(event.at)),
            // A reopened deal is open again; its earlier closing no longer counts.
            EventKind::Reopened => (state.status, state.closed_at) = (DealStatus::Open, None),
            EventKind::Created | EventKind::Moved => {}
        }
    }
    state
}

/// One stay of a deal in one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stint {
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub started_at: DateTime<Utc>,
    /// When and how the stint ended; `None` while it is running.
    pub ended: Option<(DateTime<Utc>, StintEnd)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StintEnd {
    Moved { to_stage: Uuid },
    Won,
    Lost,
}

/// The deal's stints in the order they started: one starts at each
/// `created`, `moved` or `reopened` event and ends at the next `moved`,
/// `won` or `lost` event. At most one runs at a time: a `created` or
/// `reopened` while a stint runs (which the deal state machine never writes)
/// leaves it running, and a `won` or `lost` with none running ends nothing.
pub fn stints(events: &[LoggedEvent]) -> Vec<Stint> {
    let mut stints: Vec<Stint> = Vec::new();
    let mut created = false;
    for event in in_log_order(events) {
        created |= event.kind == EventKind::Created;
        if !created {
            continue;
        }
        let end = match event.kind {
            EventKind::Created | EventKind::Reopened => None,
            EventKind::Moved => Some(StintEnd::Moved {
                to_stage: event.stage_id,
            }),
            EventKind::Won => Some(StintEnd::Won),
            EventKind::Lost => Some(StintEnd::Lost),
        };
        match (stints.last_mut().filter(|s| s.ended.is_none()), end) {
            (Some(_), None) => continue,
            (Some(running), Some(end)) => running.ended = Some((event.at, end)),
            (None, _) => {}
        }
        if !matches!(event.kind, EventKind::Won | EventKind::Lost) {
            stints.push(Stint {
                pipeline_id: event.pipeline_id,
                stage_id: event.stage_id,
                started_at: event.at,
                ended: None,
            });
        }
    }
    stints
}

/// Exact days from `a` to `b` (negative if `b` is earlier): seconds,
/// with their fraction, / 86 400.
pub fn days_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    let elapsed = b - a;
    // `subsec_nanos` has the sign of `num_seconds`, so the sum is exact either way.
    (elapsed.num_seconds() as f64 + f64::from(elapsed.subsec_nanos()) / 1e9) / 86_400.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().to_utc()
    }

    struct Pipeline {
        id: Uuid,
        stages: [Uuid; 3],
    }

    impl Pipeline {
        fn new() -> Self {
            Self {
                id: Uuid::new_v4(),
                stages: [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()],
            }
        }

        fn event(&self, kind: EventKind, stage: usize, when: &str) -> LoggedEvent {
            LoggedEvent {
                kind,
                at: at(when),
                pipeline_id: self.id,
                stage_id: self.stages[stage],
            }
        }
    }

    fn state(status: DealStatus, pipeline: &Pipeline, stage: usize, closed_at: Option<&str>) -> Option<DealStateAt> {
        Some(DealStateAt {
            status,
            pipeline_id: pipeline.id,
            stage_id: pipeline.stages[stage],
            closed_at: closed_at.map(at),
        })
    }

    fn stint(pipeline: &Pipeline, stage: usize, started: &str, ended: Option<(&str, StintEnd)>) -> Stint {
        Stint {
            pipeline_id: pipeline.id,
            stage_id: pipeline.stages[stage],
            started_at: at(started),
            ended: ended.map(|(when, end)| (at(when), end)),
        }
    }

    #[test]
    fn a_deal_won_reopened_and_lost_is_closed_at_its_last_closing() {
        let p = Pipeline::new();
        let events = [
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Moved, 1, "2026-01-10T09:00:00Z"),
            p.event(EventKind::Won, 1, "2026-01-20T09:00:00Z"),
            p.event(EventKind::Reopened, 0, "2026-02-01T09:00:00Z"),
            p.event(EventKind::Lost, 0, "2026-02-10T09:00:00Z"),
        ];
        assert_eq!(
            state_at(&events, at("2026-01-25T00:00:00Z")),
            state(DealStatus::Won, &p, 1, Some("2026-01-20T09:00:00Z"))
        );
        assert_eq!(
            state_at(&events, at("2026-02-05T00:00:00Z")),
            state(DealStatus::Open, &p, 0, None)
        );
        assert_eq!(
            state_at(&events, at("2026-03-01T00:00:00Z")),
            state(DealStatus::Lost, &p, 0, Some("2026-02-10T09:00:00Z"))
        );
        assert_eq!(
            stints(&events),
            vec![
                stint(
                    &p,
                    0,
                    "2026-01-01T09:00:00Z",
                    Some(("2026-01-10T09:00:00Z", StintEnd::Moved { to_stage: p.stages[1] }))
                ),
                stint(
                    &p,
                    1,
                    "2026-01-10T09:00:00Z",
                    Some(("2026-01-20T09:00:00Z", StintEnd::Won))
                ),
                stint(
                    &p,
                    0,
                    "2026-02-01T09:00:00Z",
                    Some(("2026-02-10T09:00:00Z", StintEnd::Lost))
                ),
            ]
        );
    }

    #[test]
    fn an_event_counts_from_its_own_instant_on() {
        let p = Pipeline::new();
        let events = [
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Won, 0, "2026-01-20T09:00:00Z"),
        ];
        assert_eq!(
            state_at(&events, at("2026-01-20T08:59:59Z")),
            state(DealStatus::Open, &p, 0, None)
        );
        assert_eq!(
            state_at(&events, at("2026-01-20T09:00:00Z")),
            state(DealStatus::Won, &p, 0, Some("2026-01-20T09:00:00Z"))
        );
    }

    #[test]
    fn before_its_creation_a_deal_has_no_state() {
        let p = Pipeline::new();
        let events = [p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z")];
        assert_eq!(state_at(&events, at("2026-01-01T08:59:59Z")), None);
        assert_eq!(state_at(&[], at("2026-01-01T09:00:00Z")), None);
        assert!(stints(&[]).is_empty());
    }

    #[test]
    fn events_the_state_machine_never_writes_do_not_start_a_second_stint() {
        let p = Pipeline::new();
        let events = [
            p.event(EventKind::Moved, 1, "2025-12-01T09:00:00Z"),
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Reopened, 2, "2026-01-02T09:00:00Z"),
        ];
        assert_eq!(state_at(&events, at("2025-12-15T00:00:00Z")), None);
        assert_eq!(stints(&events), vec![stint(&p, 0, "2026-01-01T09:00:00Z", None)]);
    }

    #[test]
    fn backdated_events_are_replayed_in_the_order_of_their_instants() {
        let p = Pipeline::new();
        // Written in this order; the move to stage 2 was recorded later but
        // backdated before the move to stage 1.
        let events = [
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Moved, 1, "2026-03-01T09:00:00Z"),
            p.event(EventKind::Moved, 2, "2026-02-01T09:00:00Z"),
        ];
        assert_eq!(
            state_at(&events, at("2026-02-15T00:00:00Z")),
            state(DealStatus::Open, &p, 2, None)
        );
        assert_eq!(
            state_at(&events, at("2026-03-15T00:00:00Z")),
            state(DealStatus::Open, &p, 1, None)
        );
        let moved_to = |stage: usize| StintEnd::Moved {
            to_stage: p.stages[stage],
        };
        assert_eq!(
            stints(&events),
            vec![
                stint(
                    &p,
                    0,
                    "2026-01-01T09:00:00Z",
                    Some(("2026-02-01T09:00:00Z", moved_to(2)))
                ),
                stint(
                    &p,
                    2,
                    "2026-02-01T09:00:00Z",
                    Some(("2026-03-01T09:00:00Z", moved_to(1)))
                ),
                stint(&p, 1, "2026-03-01T09:00:00Z", None),
            ]
        );
    }

    #[test]
    fn events_at_the_same_instant_keep_the_order_they_were_given_in() {
        let p = Pipeline::new();
        let events = [
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Moved, 1, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Won, 1, "2026-01-01T09:00:00Z"),
        ];
        assert_eq!(
            state_at(&events, at("2026-01-01T09:00:00Z")),
            state(DealStatus::Won, &p, 1, Some("2026-01-01T09:00:00Z"))
        );
        let stints = stints(&events);
        assert_eq!(stints.len(), 2);
        assert_eq!(stints[1].ended, Some((at("2026-01-01T09:00:00Z"), StintEnd::Won)));
    }

    #[test]
    fn moving_back_to_an_earlier_stage_starts_a_new_stint_there() {
        let p = Pipeline::new();
        let events = [
            p.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            p.event(EventKind::Moved, 2, "2026-01-05T09:00:00Z"),
            p.event(EventKind::Moved, 0, "2026-01-07T09:00:00Z"),
        ];
        let stints = stints(&events);
        assert_eq!(stints.len(), 3);
        assert_eq!(
            stints[1].ended,
            Some((at("2026-01-07T09:00:00Z"), StintEnd::Moved { to_stage: p.stages[0] }))
        );
        assert_eq!(stints[2], stint(&p, 0, "2026-01-07T09:00:00Z", None));
        assert_eq!(
            state_at(&events, at("2026-01-08T00:00:00Z")),
            state(DealStatus::Open, &p, 0, None)
        );
    }

    #[test]
    fn a_move_to_another_pipeline_takes_the_deal_there() {
        let (sales, partners) = (Pipeline::new(), Pipeline::new());
        let events = [
            sales.event(EventKind::Created, 0, "2026-01-01T09:00:00Z"),
            partners.event(EventKind::Moved, 1, "2026-01-05T09:00:00Z"),
            partners.event(EventKind::Won, 1, "2026-01-09T09:00:00Z"),
        ];
        assert_eq!(
            state_at(&events, at("2026-01-06T00:00:00Z")),
            state(DealStatus::Open, &partners, 1, None)
        );
        assert_eq!(
            stints(&events),
            vec![
                stint(
                    &sales,
                    0,
                    "2026-01-01T09:00:00Z",
                    Some((
                        "2026-01-05T09:00:00Z",
                        StintEnd::Moved {
                            to_stage: partners.stages[1]
                        }
                    ))
                ),
                stint(
                    &partners,
                    1,
                    "2026-01-05T09:00:00Z",
                    Some(("2026-01-09T09:00:00Z", StintEnd::Won))
                ),
            ]
        );
    }

    #[test]
    fn days_between_counts_exact_seconds_and_their_fraction() {
        assert_eq!(
            days_between(at("2026-01-01T00:00:00Z"), at("2026-01-02T12:00:00Z")),
            1.5
        );
        assert_eq!(
            days_between(at("2026-01-02T12:00:00Z"), at("2026-01-01T00:00:00Z")),
            -1.5
        );
        let half_a_second = days_between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00.5Z"));
        assert_eq!(half_a_second, 0.5 / 86_400.0);
        let back = days_between(at("2026-01-01T00:00:01Z"), at("2026-01-01T00:00:00.5Z"));
        assert_eq!(back, -0.5 / 86_400.0);
        // A day across a daylight-saving change is still 86 400 seconds.
        assert_eq!(
            days_between(at("2026-03-28T12:00:00Z"), at("2026-03-29T12:00:00Z")),
            1.0
        );
    }
}
