//! A record's timeline: its deal events, activities and notes, newest first,
//! in one keyset-paged `union all`. An item's time is the event's `at`, an
//! activity's `done_at` (its `created_at` while it is not done), and a
//! note's `created_at`. A contact's and a deal's timeline also show the
//! activities and notes of the lead that was converted into them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Activity, DealEvent, Note, RecordRef};
use uuid::Uuid;

use crate::{
    sql::{Arg, Sql},
    Result,
};

/// One entry of a timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineItem {
    Event(DealEvent),
    Activity(Activity),
    Note(Note),
}

impl TimelineItem {
    /// The instant the timeline orders the item by.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Event(e) => e.at,
            TimelineItem::Activity(a) => a.done_at.unwrap_or(a.created_at),
            TimelineItem::Note(n) => n.created_at,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            TimelineItem::Event(e) => e.id,
            TimelineItem::Activity(a) => a.id,
            TimelineItem::Note(n) => n.id,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TimelinePage {
    /// The last item seen: its time and id.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

#[async_trait]
pub trait TimelineStore {
    /// The items of `record`, newest first. `activity_owner` limits the
    /// activities to one owner's (a rep sees only their own activities).
    async fn timeline(
        &self,
        org: Uuid,
        record: RecordRef,
        activity_owner: Option<Uuid>,
        page: TimelinePage,
    ) -> Result<Vec<TimelineItem>>;
}

/// What a page of the timeline holds: (kind, id) in order.
#[derive(sqlx::FromRow)]
pub(crate) struct EntryRow {
    pub kind: String,
    pub id: Uuid,
}

/// The `union all` of a page: rows of (kind, id, at).
pub(crate) fn page_sql(org: Uuid, record: RecordRef, activity_owner: Option<Uuid>, page: TimelinePage) -> Sql {
    let mut sql = Sql::new("select kind, id, at from (");
    let id = record.id();
    // The activities and notes of this record, or of the lead converted into it.
    let attached = |sql: &mut Sql| {
        let (column, converted) = match record {
            RecordRef::Lead(_) => ("lead_id", None),
            RecordRef::Contact(_) => ("contact_id", Some("converted_contact_id")),
            RecordRef::Account(_) => ("account_id", None),
            RecordRef::Deal(_) => ("deal_id", Some("converted_deal_id")),
        };
        sql.push_args(&format!("({column} = {{}}"), [Arg::Uuid(id)]);
        if let Some(converted) = converted {
            sql.push_args(
                &format!(" or lead_id in (select id from leads where organization_id = {{}} and {converted} = {{}})"),
                [Arg::Uuid(org), Arg::Uuid(id)],
            );
        }
        sql.push(")");
    };
    if let RecordRef::Deal(deal) = record {
        sql.push_args(
            "select 'event' as kind, id, at from deal_events where organization_id = {} and deal_id = {} union all ",
            [Arg::Uuid(org), Arg::Uuid(deal)],
        );
    }
    sql.push_args(
        "select 'activity' as kind, id, coalesce(done_at, created_at) as at from activities
         where organization_id = {} and deleted_at is null and ",
        [Arg::Uuid(org)],
    );
    attached(&mut sql);
    if let Some(owner) = activity_owner {
        sql.push_args(" and owner_id = {}", [Arg::Uuid(owner)]);
    }
    sql.push_args(
        " union all select 'note' as kind, id, created_at as at from notes
         where organization_id = {} and deleted_at is null and ",
        [Arg::Uuid(org)],
    );
    attached(&mut sql);
    sql.push(") items");
    if let Some((at, last)) = page.after {
        sql.push_args(
            " where at < {} or (at = {} and id < {})",
            [Arg::Time(at), Arg::Time(at), Arg::Uuid(last)],
        );
    }
    sql.push_args(" order by at desc, id desc limit {}", [Arg::Int(i64::from(page.limit))]);
    sql
}

/// `select * from <table> where id in (…)` for the ids of one kind.
pub(crate) fn by_ids_sql(table: &str, org: Uuid, ids: &[Uuid]) -> Sql {
    let mut sql = Sql::new(&format!("select * from {table} where "));
    sql.push_args("organization_id = {} and id in (", [Arg::Uuid(org)]);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_args("{}", [Arg::Uuid(*id)]);
    }
    sql.push(")");
    sql
}

/// Implements [`TimelineStore`] for a store type with `pool`.
macro_rules! impl_timeline_store {
    ($store:ty) => {
        mod timeline_store {
            use super::*;
            use ::pipewise_domain::{Activity, DealEvent, Note, RecordRef};
            use ::std::collections::HashMap;
            use ::uuid::Uuid;
            use $crate::activities::ActivityRow;
            use $crate::deals::DealEventRow;
            use $crate::notes::NoteRow;
            use $crate::timeline::{by_ids_sql, page_sql, EntryRow, TimelineItem, TimelinePage};

            #[async_trait::async_trait]
            impl $crate::timeline::TimelineStore for $store {
                #[tracing::instrument(skip_all)]
                async fn timeline(
                    &self,
                    org: Uuid,
                    record: RecordRef,
                    activity_owner: Option<Uuid>,
                    page: TimelinePage,
                ) -> $crate::Result<Vec<TimelineItem>> {
                    let sql = page_sql(org, record, activity_owner, page);
                    let entries: Vec<EntryRow> =
                        $crate::sql::bind_args!(sqlx::query_as::<_, EntryRow>(&sql.text), &sql.args)
                            .fetch_all(&self.pool)
                            .await?;
                    let ids =
                        |kind: &str| -> Vec<Uuid> { entries.iter().filter(|e| e.kind == kind).map(|e| e.id).collect() };
                    let mut items: HashMap<Uuid, TimelineItem> = HashMap::new();
                    let events = ids("event");
                    if !events.is_empty() {
                        let sql = by_ids_sql("deal_events", org, &events);
                        let rows: Vec<DealEventRow> =
                            $crate::sql::bind_args!(sqlx::query_as::<_, DealEventRow>(&sql.text), &sql.args)
                                .fetch_all(&self.pool)
                                .await?;
                        for row in rows {
                            let event: DealEvent = row.try_into()?;
                            items.insert(event.id, TimelineItem::Event(event));
                        }
                    }
                    let activities = ids("activity");
                    if !activities.is_empty() {
                        let sql = by_ids_sql("activities", org, &activities);
                        let rows: Vec<ActivityRow> =
                            $crate::sql::bind_args!(sqlx::query_as::<_, ActivityRow>(&sql.text), &sql.args)
                                .fetch_all(&self.pool)
                                .await?;
                        for row in rows {
                            let activity: Activity = row.try_into()?;
                            items.insert(activity.id, TimelineItem::Activity(activity));
                        }
                    }
                    let notes = ids("note");
                    if !notes.is_empty() {
                        let sql = by_ids_sql("notes", org, &notes);
                        let rows: Vec<NoteRow> =
                            $crate::sql::bind_args!(sqlx::query_as::<_, NoteRow>(&sql.text), &sql.args)
                                .fetch_all(&self.pool)
                                .await?;
                        for row in rows {
                            let note: Note = row.try_into()?;
                            items.insert(note.id, TimelineItem::Note(note));
                        }
                    }
                    // An item deleted for good between the two reads is left out.
                    Ok(entries.iter().filter_map(|e| items.remove(&e.id)).collect())
                }
            }
        }
    };
}

pub(crate) use impl_timeline_store;
