use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Name;

/// A win probability in percent, 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probability(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 0 and 100")]
pub struct ProbabilityError;

impl Probability {
    pub fn new(value: i64) -> Result<Self, ProbabilityError> {
        u8::try_from(value)
            .ok()
            .filter(|v| *v <= 100)
            .map(Self)
            .ok_or(ProbabilityError)
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

/// After how many days in one stage an open deal counts as rotting: 1–3650.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RottingDays(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and 3650 days")]
pub struct RottingDaysError;

impl RottingDays {
    pub fn new(value: i64) -> Result<Self, RottingDaysError> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=3650).contains(v))
            .map(Self)
            .ok_or(RottingDaysError)
    }

    pub fn value(self) -> u16 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: Name,
    pub position: i64,
    pub probability: Probability,
    pub rotting_days: Option<RottingDays>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: Name,
    /// In position order.
    pub stages: Vec<Stage>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewStage {
    pub name: Name,
    pub probability: Probability,
    pub rotting_days: Option<RottingDays>,
}

/// A change to a stage; `None` leaves a field as it is, and
/// `rotting_days: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct StageChanges {
    pub name: Option<Name>,
    pub probability: Option<Probability>,
    pub rotting_days: Option<Option<RottingDays>>,
}

/// The stages a new organization starts with, so a team can work at once.
pub fn default_stages() -> Vec<NewStage> {
    [
        ("Prospecting", 10),
        ("Qualified", 25),
        ("Meeting", 40),
        ("Proposal", 60),
        ("Negotiation", 80),
    ]
    .into_iter()
    .map(|(name, probability)| NewStage {
        name: Name::parse(name).expect("a valid name"),
        probability: Probability::new(probability).expect("a valid probability"),
        rotting_days: None,
    })
    .collect()
}

/// Whether `proposed` is exactly the stages of a pipeline, each once, in
/// some order: anything else would lose or duplicate a stage.
pub fn is_permutation(current: &[Uuid], proposed: &[Uuid]) -> bool {
    let mut a = current.to_vec();
    let mut b = proposed.to_vec();
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_and_rotting_bounds() {
        assert!(Probability::new(0).is_ok() && Probability::new(100).is_ok());
        assert!(Probability::new(101).is_err() && Probability::new(-1).is_err());
        assert!(RottingDays::new(1).is_ok() && RottingDays::new(3650).is_ok());
        assert!(RottingDays::new(0).is_err() && RottingDays::new(3651).is_err());
    }

    #[test]
    fn a_reorder_must_name_every_stage_once() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(is_permutation(&[a, b, c], &[c, a, b]));
        assert!(!is_permutation(&[a, b, c], &[a, b]));
        assert!(!is_permutation(&[a, b, c], &[a, b, b]));
        assert!(!is_permutation(&[a, b], &[a, b, c]));
    }

    #[test]
    fn the_default_pipeline_climbs_in_probability() {
        let stages = default_stages();
        assert_eq!(stages.len(), 5);
        assert!(stages.windows(2).all(|w| w[0].probability < w[1].probability));
    }
}
