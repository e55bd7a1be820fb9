//! A deal's life as a small state machine. A deal always sits in a stage of
//! its pipeline; `status` says whether it is closed. Only an open deal moves;
//! `win`, `lose` and `reopen` are the only ways to change the status, and
//! every change yields the event that records it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl DealStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [DealStatus::Open, DealStatus::Won, DealStatus::Lost]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Moved,
    Won,
    Lost,
    Reopened,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Moved => "moved",
            EventKind::Won => "won",
            EventKind::Lost => "lost",
            EventKind::Reopened => "reopened",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            EventKind::Created,
            EventKind::Moved,
            EventKind::Won,
            EventKind::Lost,
            EventKind::Reopened,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// A stage, with the pipeline it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageRef {
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
}

/// Why a deal was lost: 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostReason(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and 200 characters")]
pub struct LostReasonError;

impl LostReason {
    pub fn parse(raw: &str) -> Result<Self, LostReasonError> {
        let value = raw.trim();
        let len = value.chars().count();
        if (1..=200).contains(&len) && !value.chars().any(char::is_control) {
            Ok(Self(value.to_owned()))
        } else {
            Err(LostReasonError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the state machine needs to know about a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealState {
    pub status: DealStatus,
    pub stage: StageRef,
    /// When the latest event happened: nothing may be recorded before it.
    pub last_event_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Move {
        to: StageRef,
    },
    Win,
    Lose {
        reason: LostReason,
    },
    /// Back to open, in `to` or else the stage it closed in.
    Reopen {
        to: Option<StageRef>,
    },
}

/// A change to apply, and the event that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub kind: EventKind,
    pub status: DealStatus,
    pub stage: StageRef,
    pub from_stage: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub lost_reason: Option<LostReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("only an open deal can move; reopen it first")]
    MoveClosed,
    #[error("the deal is already in this stage")]
    SameStage,
    #[error("the deal is already closed; reopen it first")]
    AlreadyClosed,
    #[error("the deal is open; only a won or lost deal can be reopened")]
    NotClosed,
}

/// Applies `command` at instant `at`. Checking `at` itself (not in the
/// future, not before the last event) is [`check_event_time`]'s job.
pub fn apply(state: &DealState, command: Command, at: DateTime<Utc>) -> Result<Transition, TransitionError> {
    let open = state.status == DealStatus::Open;
    match command {
        Command::Move { to } => {
            if !open {
                return Err(TransitionError::MoveClosed);
            }
            if to.stage_id == state.stage.stage_id {
                return Err(TransitionError::SameStage);
            }
            Ok(Transition {
                kind: EventKind::Moved,
                status: DealStatus::Open,
                stage: to,
                from_stage: Some(state.stage.stage_id),
                at,
                lost_reason: None,
            })
        }
        Command::Win | Command::Lose { .. } if !open => Err(TransitionError::AlreadyClosed),
        Command::Win => Ok(Transition {
            kind: EventKind::Won,
            status: DealStatus::Won,
            stage: state.stage,
            from_stage: None,
            at,
            lost_reason: None,
        }),
        Command::Lose { reason } => Ok(Transition {
            kind: EventKind::Lost,
            status: DealStatus::Lost,
            stage: state.stage,
            from_stage: None,
            at,
            lost_reason: Some(reason),
        }),
        Command::Reopen { to } => {
            if open {
                return Err(TransitionError::NotClosed);
            }
            let stage = to.unwrap_or(state.stage);
            Ok(Transition {
                kind: EventKind::Reopened,
                status: DealStatus::Open,
                stage,
                from_stage: (stage.stage_id != state.stage.stage_id).then_some(state.stage.stage_id),
                at,
                lost_reason: None,
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTimeError {
    #[error("must not be in the future")]
    InTheFuture,
    #[error("must not be before the record's previous event")]
    BeforePreviousEvent,
}

/// A backdated instant may not lie in the future nor before the previous event.
pub fn check_event_time(
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Result<(), EventTimeError> {
    if at > now {
        Err(EventTimeError::InTheFuture)
    } else if previous.is_some_and(|p| at < p) {
        Err(EventTimeError::BeforePreviousEvent)
    } else {
        Ok(())
    }
}

/// The sales forecast bucket a rep puts a deal in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForecastCategory {
    Pipeline,
    BestCase,
    Commit,
    Omitted,
}

impl ForecastCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Omitted => "omitted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            ForecastCategory::Pipeline,
            ForecastCategory::BestCase,
            ForecastCategory::Commit,
            ForecastCategory::Omitted,
        ]
        .into_iter()
        .find(|c| c.as_str() == raw)
    }
}

/// A contact's part in a buying decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyingRole {
    DecisionMaker,
    Influencer,
    Champion,
    User,
    Other,
}

impl BuyingRole {
    pub fn as_str(self) -> &'static str {
        match self {
            BuyingRole::DecisionMaker => "decision_maker",
            BuyingRole::Influencer => "influencer",
            BuyingRole::Champion => "champion",
            BuyingRole::User => "user",
            BuyingRole::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            BuyingRole::DecisionMaker,
            BuyingRole::Influencer,
            BuyingRole::Champion,
            BuyingRole::User,
            BuyingRole::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    fn stage() -> StageRef {
        StageRef {
            pipeline_id: Uuid::from_u128(1),
            stage_id: Uuid::now_v7(),
        }
    }

    fn deal(status: DealStatus) -> DealState {
        DealState {
            status,
            stage: stage(),
            last_event_at: at(1),
        }
    }

    #[test]
    fn an_open_deal_moves_and_the_event_names_both_stages() {
        let state = deal(DealStatus::Open);
        let to = stage();
        let t = apply(&state, Command::Move { to }, at(2)).unwrap();
        assert_eq!(
            (t.kind, t.status, t.stage, t.from_stage),
            (EventKind::Moved, DealStatus::Open, to, Some(state.stage.stage_id))
        );
    }

    #[test]
    fn moving_to_the_current_stage_is_refused() {
        let state = deal(DealStatus::Open);
        assert_eq!(
            apply(&state, Command::Move { to: state.stage }, at(2)),
            Err(TransitionError::SameStage)
        );
    }

    #[test]
    fn closed_deals_do_not_move_and_cannot_close_again() {
        for status in [DealStatus::Won, DealStatus::Lost] {
            let state = deal(status);
            assert_eq!(
                apply(&state, Command::Move { to: stage() }, at(2)),
                Err(TransitionError::MoveClosed)
            );
            assert_eq!(apply(&state, Command::Win, at(2)), Err(TransitionError::AlreadyClosed));
            let reason = LostReason::parse("price").unwrap();
            assert_eq!(
                apply(&state, Command::Lose { reason }, at(2)),
                Err(TransitionError::AlreadyClosed)
            );
        }
    }

    #[test]
    fn win_and_lose_keep_the_stage() {
        let state = deal(DealStatus::Open);
        let won = apply(&state, Command::Win, at(2)).unwrap();
        assert_eq!(
            (won.status, won.stage, won.kind),
            (DealStatus::Won, state.stage, EventKind::Won)
        );
        let reason = LostReason::parse("went with a competitor").unwrap();
        let lost = apply(&state, Command::Lose { reason: reason.clone() }, at(2)).unwrap();
        assert_eq!(
            (lost.status, lost.stage, lost.lost_reason),
            (DealStatus::Lost, state.stage, Some(reason))
        );
    }

    #[test]
    fn only_a_closed_deal_reopens_in_its_stage_or_another() {
        assert_eq!(
            apply(&deal(DealStatus::Open), Command::Reopen { to: None }, at(2)),
            Err(TransitionError::NotClosed)
        );
        let state = deal(DealStatus::Lost);
        let same = apply(&state, Command::Reopen { to: None }, at(2)).unwrap();
        assert_eq!(
            (same.status, same.stage, same.from_stage),
            (DealStatus::Open, state.stage, None)
        );
        let to = stage();
        let moved = apply(&state, Command::Reopen { to: Some(to) }, at(2)).unwrap();
        assert_eq!((moved.stage, moved.from_stage), (to, Some(state.stage.stage_id)));
    }

    #[test]
    fn backdated_events_stay_between_the_previous_event_and_now() {
        assert_eq!(check_event_time(at(3), at(2), None), Err(EventTimeError::InTheFuture));
        assert_eq!(
            check_event_time(at(1), at(5), Some(at(2))),
            Err(EventTimeError::BeforePreviousEvent)
        );
        assert!(check_event_time(at(2), at(5), Some(at(2))).is_ok());
    }

    #[test]
    fn lost_reasons_are_one_to_two_hundred_characters() {
        assert!(LostReason::parse("").is_err() && LostReason::parse("   ").is_err());
        assert!(LostReason::parse(&"x".repeat(200)).is_ok());
        assert!(LostReason::parse(&"x".repeat(201)).is_err());
    }
}
