//! Activities (calls, emails, meetings, tasks), notes and notifications: the
//! work around the pipeline's records. An activity's status is derived from
//! its instants and the clock rather than stored, so it never goes stale.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityType {
    Call,
    Email,
    Meeting,
    Task,
}

impl ActivityType {
    pub const ALL: &'static [ActivityType] = &[
        ActivityType::Call,
        ActivityType::Email,
        ActivityType::Meeting,
        ActivityType::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::Call => "call",
            ActivityType::Email => "email",
            ActivityType::Meeting => "meeting",
            ActivityType::Task => "task",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityStatus {
    Open,
    Done,
    Overdue,
}

impl ActivityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::Open => "open",
            ActivityStatus::Done => "done",
            ActivityStatus::Overdue => "overdue",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ActivityStatus::Open, ActivityStatus::Done, ActivityStatus::Overdue]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Done once done_at is set; Overdue when open and due_at < now; else Open.
    pub fn of(due_at: Option<DateTime<Utc>>, done_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> ActivityStatus {
        if done_at.is_some() {
            ActivityStatus::Done
        } else if due_at.is_some_and(|due| due < now) {
            ActivityStatus::Overdue
        } else {
            ActivityStatus::Open
        }
    }
}

/// The records an activity or note is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Links {
    pub lead_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub deal_id: Option<Uuid>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        *self == Links::default()
    }
}

/// An activity as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub activity_type: ActivityType,
    pub subject: String,
    pub note: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub owner_id: Uuid,
    pub links: Links,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Activity {
    pub fn status(&self, now: DateTime<Utc>) -> ActivityStatus {
        ActivityStatus::of(self.due_at, self.done_at, now)
    }
}

/// A note's text: trimmed, 1–10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteBody(String);

pub const MAX_NOTE_CHARS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteBodyError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 10000 characters")]
    TooLong,
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlCharacter,
}

impl NoteBody {
    /// Notes are multi-line, so unlike other text they keep \n, \r and \t.
    pub fn parse(raw: &str) -> Result<NoteBody, NoteBodyError> {
        let value = raw.trim();
        if value.is_empty() {
            Err(NoteBodyError::Empty)
        } else if value.chars().count() > MAX_NOTE_CHARS {
            Err(NoteBodyError::TooLong)
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            Err(NoteBodyError::ControlCharacter)
        } else {
            Ok(NoteBody(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The kinds of record a note or notification points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Lead,
    Contact,
    Account,
    Deal,
    Activity,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Lead => "lead",
            RecordKind::Contact => "contact",
            RecordKind::Account => "account",
            RecordKind::Deal => "deal",
            RecordKind::Activity => "activity",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            RecordKind::Lead,
            RecordKind::Contact,
            RecordKind::Account,
            RecordKind::Deal,
            RecordKind::Activity,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// What a note is attached to: exactly one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef {
    Lead(Uuid),
    Contact(Uuid),
    Account(Uuid),
    Deal(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("must name a lead, contact, account or deal")]
    NoRecord,
    #[error("must name exactly one of lead, contact, account or deal")]
    SeveralRecords,
}

impl RecordRef {
    pub fn from_links(links: Links) -> Result<RecordRef, AttachError> {
        let candidates = [
            links.lead_id.map(RecordRef::Lead),
            links.contact_id.map(RecordRef::Contact),
            links.account_id.map(RecordRef::Account),
            links.deal_id.map(RecordRef::Deal),
        ];
        let mut set = candidates.into_iter().flatten();
        match (set.next(), set.next()) {
            (None, _) => Err(AttachError::NoRecord),
            (Some(record), None) => Ok(record),
            (Some(_), Some(_)) => Err(AttachError::SeveralRecords),
        }
    }

    pub fn kind(self) -> RecordKind {
        match self {
            RecordRef::Lead(_) => RecordKind::Lead,
            RecordRef::Contact(_) => RecordKind::Contact,
            RecordRef::Account(_) => RecordKind::Account,
            RecordRef::Deal(_) => RecordKind::Deal,
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            RecordRef::Lead(id) | RecordRef::Contact(id) | RecordRef::Account(id) | RecordRef::Deal(id) => id,
        }
    }

    pub fn links(self) -> Links {
        let mut links = Links::default();
        match self {
            RecordRef::Lead(id) => links.lead_id = Some(id),
            RecordRef::Contact(id) => links.contact_id = Some(id),
            RecordRef::Account(id) => links.account_id = Some(id),
            RecordRef::Deal(id) => links.deal_id = Some(id),
        }
        links
    }
}

/// A note as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub record: RecordRef,
    pub body: String,
    /// `None` once the author's user is gone.
    pub author_user_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    LeadMql,
    Assigned,
    ActivityOverdue,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::LeadMql => "lead_mql",
            NotificationKind::Assigned => "assigned",
            NotificationKind::ActivityOverdue => "activity_overdue",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            NotificationKind::LeadMql,
            NotificationKind::Assigned,
            NotificationKind::ActivityOverdue,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// A message to one user about one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub record_kind: RecordKind,
    pub record_id: Uuid,
    pub message: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for t in ActivityType::ALL {
            assert_eq!(ActivityType::parse(t.as_str()), Some(*t));
        }
        for s in [ActivityStatus::Open, ActivityStatus::Done, ActivityStatus::Overdue] {
            assert_eq!(ActivityStatus::parse(s.as_str()), Some(s));
        }
        for k in ["lead", "contact", "account", "deal", "activity"] {
            assert_eq!(RecordKind::parse(k).map(RecordKind::as_str), Some(k));
        }
        for k in ["lead_mql", "assigned", "activity_overdue"] {
            assert_eq!(NotificationKind::parse(k).map(NotificationKind::as_str), Some(k));
        }
        assert_eq!(ActivityType::parse("Call"), None);
        assert_eq!(RecordKind::parse("note"), None);
    }

    #[test]
    fn status_comes_from_the_instants() {
        assert_eq!(ActivityStatus::of(None, None, at(5)), ActivityStatus::Open);
        assert_eq!(ActivityStatus::of(Some(at(6)), None, at(5)), ActivityStatus::Open);
        assert_eq!(ActivityStatus::of(Some(at(5)), None, at(5)), ActivityStatus::Open);
        assert_eq!(ActivityStatus::of(Some(at(4)), None, at(5)), ActivityStatus::Overdue);
        assert_eq!(
            ActivityStatus::of(Some(at(4)), Some(at(6)), at(5)),
            ActivityStatus::Done
        );
        assert_eq!(ActivityStatus::of(None, Some(at(1)), at(5)), ActivityStatus::Done);
    }

    #[test]
    fn note_bodies_are_trimmed_multi_line_text() {
        assert_eq!(
            NoteBody::parse("  Called.\n\tWill call back.\r\n ").unwrap().as_str(),
            "Called.\n\tWill call back."
        );
        assert_eq!(NoteBody::parse(" \n "), Err(NoteBodyError::Empty));
        assert_eq!(NoteBody::parse("a\u{0}b"), Err(NoteBodyError::ControlCharacter));
        assert_eq!(NoteBody::parse("a\u{1b}[31m"), Err(NoteBodyError::ControlCharacter));
        assert!(NoteBody::parse(&"é".repeat(10_000)).is_ok());
        assert_eq!(NoteBody::parse(&"x".repeat(10_001)), Err(NoteBodyError::TooLong));
        assert_eq!(NoteBody::parse("ok").unwrap().into_inner(), "ok");
    }

    #[test]
    fn a_note_attaches_to_exactly_one_record() {
        let id = Uuid::from_u128(7);
        assert_eq!(RecordRef::from_links(Links::default()), Err(AttachError::NoRecord));
        let two = Links {
            lead_id: Some(id),
            deal_id: Some(id),
            ..Links::default()
        };
        assert_eq!(RecordRef::from_links(two), Err(AttachError::SeveralRecords));
        for record in [
            RecordRef::Lead(id),
            RecordRef::Contact(id),
            RecordRef::Account(id),
            RecordRef::Deal(id),
        ] {
            assert_eq!(RecordRef::from_links(record.links()), Ok(record));
            assert_eq!(record.id(), id);
            assert_eq!(RecordKind::parse(record.kind().as_str()), Some(record.kind()));
        }
        assert_eq!(RecordRef::Deal(id).links().deal_id, Some(id));
        assert!(Links::default().is_empty() && !RecordRef::Lead(id).links().is_empty());
    }
}
