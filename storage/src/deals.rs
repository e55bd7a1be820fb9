//! Deals, their contacts, and their event log. Every change of stage or
//! status writes its event in the same transaction; lists are keyset-paged
//! over an index per filter and sort.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pipewise_domain::{
    deal::{BuyingRole, Command, DealStatus, EventKind, ForecastCategory},
    Amount, Currency, Deal, DealContact, DealEvent, Probability,
};
use uuid::Uuid;

use crate::{
    sql::{prefix_upper_bound, Arg, Sql},
    Actor, Result, StoreError,
};

#[derive(Debug, Clone)]
pub struct NewDeal {
    pub title: String,
    pub amount: Amount,
    pub currency: Currency,
    pub pipeline_id: Uuid,
    /// `None`: the pipeline's first stage.
    pub stage_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub account_id: Option<Uuid>,
    pub contacts: Vec<DealContact>,
    pub source: Option<String>,
    pub probability: Option<Probability>,
    pub expected_close_date: Option<NaiveDate>,
    pub forecast_category: ForecastCategory,
    /// The id a partner's system knows the deal by.
    pub external_id: Option<String>,
    pub tags: pipewise_domain::Tags,
    pub custom_fields: pipewise_domain::CustomValues,
    /// When the deal was created: now, or a backdated instant from an import.
    pub created_at: DateTime<Utc>,
}

/// A change to a deal; `None` leaves a field alone, `Some(None)` clears it.
/// Stage, status and closing are not here: only commands change them.
#[derive(Debug, Clone, Default)]
pub struct DealChanges {
    pub title: Option<String>,
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Option<Uuid>>,
    pub contacts: Option<Vec<DealContact>>,
    pub source: Option<Option<String>>,
    pub probability: Option<Option<Probability>>,
    pub expected_close_date: Option<Option<NaiveDate>>,
    pub forecast_category: Option<ForecastCategory>,
    pub external_id: Option<Option<String>>,
    pub tags: Option<pipewise_domain::Tags>,
    /// Custom values to set (or clear, `None`), by key; the others stay.
    pub custom_fields: Vec<(pipewise_domain::FieldKey, Option<pipewise_domain::CustomValue>)>,
}

impl DealChanges {
    /// Whether applying these changes to `deal` would leave it as it is.
    pub fn leaves_unchanged(&self, deal: &pipewise_domain::Deal) -> bool {
        fn same<T: PartialEq>(change: &Option<T>, current: &T) -> bool {
            change.as_ref().is_none_or(|value| value == current)
        }
        same(&self.title, &deal.title)
            && same(&self.amount, &deal.amount)
            && same(&self.currency, &deal.currency)
            && same(&self.owner_id, &deal.owner_id)
            && same(&self.account_id, &deal.account_id)
            && same(&self.contacts, &deal.contacts)
            && same(&self.source, &deal.source)
            && same(&self.probability, &deal.probability)
            && same(&self.expected_close_date, &deal.expected_close_date)
            && same(&self.forecast_category, &deal.forecast_category)
            && same(&self.external_id, &deal.external_id)
            && same(&self.tags, &deal.tags)
            && deal.custom_fields.patched(&self.custom_fields) == deal.custom_fields
    }
}

#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Custom field values, all of which must match.
    pub custom: Vec<crate::custom_fields::CustomFilter>,
    /// Visibility: a rep sees only the deals they own.
    pub visible_to_owner: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
    pub status: Option<DealStatus>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub source: Option<String>,
    /// Case-insensitive title prefix.
    pub title_prefix: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub close_from: Option<NaiveDate>,
    pub close_to: Option<NaiveDate>,
    pub amount_min: Option<Amount>,
    pub amount_max: Option<Amount>,
    pub tag: Option<pipewise_domain::Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealSortField {
    CreatedAt,
    UpdatedAt,
    Amount,
    ExpectedCloseDate,
    Title,
}

impl DealSortField {
    fn column(self) -> &'static str {
        match self {
            DealSortField::CreatedAt => "d.created_at",
            DealSortField::UpdatedAt => "d.updated_at",
            DealSortField::Amount => "d.amount_minor",
            DealSortField::ExpectedCloseDate => "d.expected_close_date",
            DealSortField::Title => "d.title_key",
        }
    }
}

/// The sort value of the last row of a page, and its id.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Time(DateTime<Utc>),
    Int(i64),
    Text(String),
    Date(Option<NaiveDate>),
}

#[derive(Debug, Clone)]
pub struct DealPage {
    pub sort: DealSortField,
    pub descending: bool,
    pub after: Option<(SortValue, Uuid)>,
    pub limit: u32,
}

impl DealSortField {
    /// The value of this field on `deal`, for the next page's cursor.
    pub fn value_of(self, deal: &Deal) -> SortValue {
        match self {
            DealSortField::CreatedAt => SortValue::Time(deal.created_at),
            DealSortField::UpdatedAt => SortValue::Time(deal.updated_at),
            DealSortField::Amount => SortValue::Int(deal.amount.minor()),
            DealSortField::ExpectedCloseDate => SortValue::Date(deal.expected_close_date),
            DealSortField::Title => SortValue::Text(pipewise_domain::text::search_key(&[Some(&deal.title)])),
        }
    }
}

#[async_trait]
pub trait DealStore {
    async fn create_deal(&self, org: Uuid, deal: &NewDeal, actor: Actor, now: DateTime<Utc>) -> Result<Deal>;
    /// A deal that is not trashed, visible to `owner` when given.
    async fn deal(&self, org: Uuid, id: Uuid, owner: Option<Uuid>) -> Result<Deal>;
    async fn deals(&self, org: Uuid, filter: &DealFilter, page: &DealPage) -> Result<Vec<Deal>>;
    /// Applies `changes`; a new owner is told when `actor` is someone else.
    #[allow(clippy::too_many_arguments)]
    async fn update_deal(
        &self,
        org: Uuid,
        id: Uuid,
        owner: Option<Uuid>,
        changes: &DealChanges,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Deal>;
    /// Applies a state command at `at` (default now), with its event.
    #[allow(clippy::too_many_arguments)]
    async fn command_deal(
        &self,
        org: Uuid,
        id: Uuid,
        owner: Option<Uuid>,
        command: Command,
        at: Option<DateTime<Utc>>,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Deal>;
    async fn deal_events(&self, org: Uuid, id: Uuid, owner: Option<Uuid>) -> Result<Vec<DealEvent>>;
    async fn trash_deal(
        &self,
        org: Uuid,
        id: Uuid,
        owner: Option<Uuid>,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
    async fn restore_deal(
        &self,
        org: Uuid,
        id: Uuid,
        owner: Option<Uuid>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Deal>;
    /// Applies a bulk action to the live deals `ids` (visible to `owner`
    /// when given) in one transaction (see [`crate::bulk_edit`]): `edit`
    /// decides each one's step under its row lock, written as by
    /// `update_deal`, `command_deal` or `trash_deal`. Returns the ids changed;
    /// `Missing` names ids of no live deal visible to `owner`.
    async fn bulk_deals(
        &self,
        org: Uuid,
        ids: &[Uuid],
        owner: Option<Uuid>,
        edit: crate::Edit<'_, Deal, crate::Step<crate::DealEdit>>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>>;
    /// Deletes a deal (in the trash or not) for good, with its events and contact links.
    async fn purge_deal(
        &self,
        org: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct DealRow {
    id: Uuid,
    organization_id: Uuid,
    pipeline_id: Uuid,
    stage_id: Uuid,
    title: String,
    amount_minor: i64,
    currency: String,
    status: String,
    owner_id: Uuid,
    account_id: Option<Uuid>,
    source: Option<String>,
    probability: Option<i64>,
    stage_probability: i64,
    expected_close_date: Option<NaiveDate>,
    forecast_category: String,
    lost_reason: Option<String>,
    external_id: Option<String>,
    tags: String,
    custom_fields: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    stage_entered_at: DateTime<Utc>,
    last_activity_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
}

pub(crate) const DEAL_COLUMNS: &str = "d.id, d.organization_id, d.pipeline_id, d.stage_id, d.title, d.amount_minor, \
    d.currency, d.status, d.owner_id, d.account_id, d.source, d.probability, s.probability as stage_probability, \
    d.expected_close_date, d.forecast_category, d.lost_reason, d.external_id, d.tags, d.custom_fields, d.version, d.created_at, d.updated_at, \
    d.closed_at, d.stage_entered_at, d.last_activity_at, d.deleted_at";

impl DealRow {
    pub(crate) fn into_deal(self, contacts: Vec<DealContact>) -> Result<Deal> {
        let bad = |what: &str| StoreError::Corrupt(format!("deal {}: {what}", self.id));
        Ok(Deal {
            id: self.id,
            organization_id: self.organization_id,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            title: self.title.clone(),
            amount: Amount::from_minor(self.amount_minor).ok_or_else(|| bad("amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| bad("currency"))?,
            status: DealStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            owner_id: self.owner_id,
            account_id: self.account_id,
            contacts,
            source: self.source.clone(),
            probability: self
                .probability
                .map(Probability::new)
                .transpose()
                .map_err(|_| bad("probability"))?,
            stage_probability: Probability::new(self.stage_probability).map_err(|_| bad("stage probability"))?,
            expected_close_date: self.expected_close_date,
            forecast_category: ForecastCategory::parse(&self.forecast_category).ok_or_else(|| bad("forecast"))?,
            lost_reason: self.lost_reason.clone(),
            external_id: self.external_id.clone(),
            tags: crate::rows::read_tags(self.id, &self.tags)?,
            custom_fields: crate::custom_fields::read_values(&self.custom_fields)?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: self.closed_at,
            stage_entered_at: self.stage_entered_at,
            last_activity_at: self.last_activity_at,
            deleted_at: self.deleted_at,
        })
    }

    pub(crate) fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DealContactRow {
    pub deal_id: Uuid,
    pub contact_id: Uuid,
    pub buying_role: Option<String>,
}

impl DealContactRow {
    pub(crate) fn contact(&self) -> DealContact {
        DealContact {
            contact_id: self.contact_id,
            buying_role: self.buying_role.as_deref().and_then(BuyingRole::parse),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DealEventRow {
    id: Uuid,
    deal_id: Uuid,
    kind: String,
    at: DateTime<Utc>,
    pipeline_id: Uuid,
    stage_id: Uuid,
    from_stage_id: Option<Uuid>,
    lost_reason: Option<String>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
}

impl TryFrom<DealEventRow> for DealEvent {
    type Error = StoreError;
    fn try_from(row: DealEventRow) -> Result<Self> {
        Ok(DealEvent {
            id: row.id,
            deal_id: row.deal_id,
            kind: EventKind::parse(&row.kind).ok_or_else(|| StoreError::Corrupt(format!("event {}: kind", row.id)))?,
            at: row.at,
            pipeline_id: row.pipeline_id,
            stage_id: row.stage_id,
            from_stage_id: row.from_stage_id,
            lost_reason: row.lost_reason,
            actor_user_id: row.actor_user_id,
            actor_api_key_id: row.actor_api_key_id,
        })
    }
}

/// The queries of one list page, to run in order until the page is full:
/// one for most sorts; for `expected_close_date`, first the deals with a
/// close date, then those without (they come last in either direction).
/// Every keyset condition is a row-value range `(column, id) > (x, y)`, which
/// both backends answer from the sort's index; the equivalent
/// `column > x or (column = x and id > y)` is applied as a filter, reading
/// every row before the cursor.
pub(crate) fn list_queries(org: Uuid, filter: &DealFilter, page: &DealPage) -> Vec<Sql> {
    let column = page.sort.column();
    let nullable = page.sort == DealSortField::ExpectedCloseDate;
    let (cmp, dir) = if page.descending { ("<", "desc") } else { (">", "asc") };
    let after = |sql: &mut Sql, value: Arg, id: Uuid| {
        sql.push_args(
            &format!(" and ({column}, d.id) {cmp} ({{}}, {{}})"),
            [value, Arg::Uuid(id)],
        );
    };
    // Only the nullable sort names its null order: on a column that cannot be
    // null, "nulls last" would still stop PostgreSQL from reading a plain
    // index backwards, and every descending list would sort in memory.
    let nulls = if nullable { " nulls last" } else { "" };
    let finish = |mut sql: Sql| {
        sql.push(&format!(" order by {column} {dir}{nulls}, d.id {dir} limit "));
        let limit = sql.arg(Arg::Int(i64::from(page.limit)));
        sql.push(&limit);
        sql
    };
    let mut sql = filtered(org, filter);
    match &page.after {
        // The cursor stopped among the deals without a close date: the rest of them, by id.
        Some((SortValue::Date(None), id)) => {
            sql.push_args(&format!(" and {column} is null and d.id {cmp} {{}}"), [Arg::Uuid(*id)]);
        }
        Some((SortValue::Date(Some(d)), id)) => {
            sql.push(&format!(" and {column} is not null"));
            after(&mut sql, Arg::Date(*d), *id);
        }
        Some((SortValue::Time(t), id)) => after(&mut sql, Arg::Time(*t), *id),
        Some((SortValue::Int(i), id)) => after(&mut sql, Arg::Int(*i), *id),
        Some((SortValue::Text(t), id)) => after(&mut sql, Arg::Text(t.clone()), *id),
        None if nullable => {
            sql.push(&format!(" and {column} is not null"));
        }
        None => {}
    }
    let in_null_tail = matches!(page.after, Some((SortValue::Date(None), _)));
    if nullable && !in_null_tail {
        let mut tail = filtered(org, filter);
        tail.push(&format!(" and {column} is null"));
        vec![finish(sql), finish(tail)]
    } else {
        vec![finish(sql)]
    }
}

/// The live deals of the organization that `filter` admits, unordered.
fn filtered(org: Uuid, filter: &DealFilter) -> Sql {
    let mut sql = Sql::new(&format!(
        "select {DEAL_COLUMNS} from deals d join stages s on s.id = d.stage_id where "
    ));
    sql.push_args("d.organization_id = {} and d.deleted_at is null", [Arg::Uuid(org)]);
    let mut eq = |column: &str, arg: Option<Arg>| {
        if let Some(arg) = arg {
            sql.push_args(&format!(" and {column} = {{}}"), [arg]);
        }
    };
    eq("d.owner_id", filter.visible_to_owner.map(Arg::Uuid));
    eq("d.owner_id", filter.owner_id.map(Arg::Uuid));
    eq("d.pipeline_id", filter.pipeline_id.map(Arg::Uuid));
    eq("d.stage_id", filter.stage_id.map(Arg::Uuid));
    eq("d.status", filter.status.map(|s| Arg::Text(s.as_str().to_owned())));
    eq("d.account_id", filter.account_id.map(Arg::Uuid));
    eq("d.source", filter.source.clone().map(Arg::Text));
    if let Some(tag) = &filter.tag {
        sql.push_args(
            " and d.id in (select record_id from record_tags where kind = 'deal' and organization_id = {} and tag = {})",
            [Arg::Uuid(org), Arg::Text(tag.as_str().to_owned())],
        );
    }
    for custom in &filter.custom {
        let args = [
            Arg::Uuid(org),
            Arg::Text("deal".to_owned()),
            Arg::Text(custom.key.clone()),
            Arg::Text(custom.term.clone()),
        ];
        sql.push_args(&crate::custom_fields::filter_sql("d.id"), args);
    }
    if let Some(contact) = filter.contact_id {
        sql.push_args(
            " and d.id in (select deal_id from deal_contacts where contact_id = {})",
            [Arg::Uuid(contact)],
        );
    }
    if let Some(prefix) = &filter.title_prefix {
        sql.push_args(" and d.title_key >= {}", [Arg::Text(prefix.clone())]);
        if let Some(upper) = prefix_upper_bound(prefix) {
            sql.push_args(" and d.title_key < {}", [Arg::Text(upper)]);
        }
    }
    let mut range = |text: &str, arg: Option<Arg>| {
        if let Some(arg) = arg {
            sql.push_args(text, [arg]);
        }
    };
    range(" and d.created_at >= {}", filter.created_from.map(Arg::Time));
    range(" and d.created_at < {}", filter.created_to.map(Arg::Time));
    range(" and d.expected_close_date >= {}", filter.close_from.map(Arg::Date));
    range(" and d.expected_close_date <= {}", filter.close_to.map(Arg::Date));
    range(
        " and d.amount_minor >= {}",
        filter.amount_min.map(|a| Arg::Int(a.minor())),
    );
    range(
        " and d.amount_minor <= {}",
        filter.amount_max.map(|a| Arg::Int(a.minor())),
    );

    sql
}

macro_rules! impl_deal_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::deals::DealStore for $store {
            #[tracing::instrument(skip_all)]
            async fn create_deal(
                &self,
                org: Uuid,
                deal: &$crate::deals::NewDeal,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Deal> {
                let mut tx = self.begin_write().await?;
                let created = insert_deal(&mut tx, org, deal, actor, now).await?;
                tx.commit().await?;
                Ok(created)
            }

            #[tracing::instrument(skip_all)]
            async fn deal(&self, org: Uuid, id: Uuid, owner: Option<Uuid>) -> $crate::Result<pipewise_domain::Deal> {
                let mut conn = self.pool.acquire().await?;
                load_deal(&mut conn, org, id, owner, false).await
            }

            #[tracing::instrument(skip_all)]
            async fn deals(
                &self,
                org: Uuid,
                filter: &$crate::deals::DealFilter,
                page: &$crate::deals::DealPage,
            ) -> $crate::Result<Vec<pipewise_domain::Deal>> {
                let limit = page.limit as usize;
                let mut rows: Vec<$crate::deals::DealRow> = Vec::with_capacity(limit);
                for sql in $crate::deals::list_queries(org, filter, page) {
                    if rows.len() >= limit {
                        break;
                    }
                    rows.extend(
                        $crate::sql::bind_args!(sqlx::query_as::<_, $crate::deals::DealRow>(&sql.text), &sql.args)
                            .fetch_all(&self.pool)
                            .await?,
                    );
                }
                rows.truncate(limit);
                let mut conn = self.pool.acquire().await?;
                with_contacts(&mut conn, rows).await
            }

            #[tracing::instrument(skip_all)]
            async fn update_deal(
                &self,
                org: Uuid,
                id: Uuid,
                owner: Option<Uuid>,
                changes: &$crate::deals::DealChanges,
                if_version: Option<i64>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Deal> {
                let mut tx = self.begin_write().await?;
                let current = load_deal(&mut tx, org, id, owner, true).await?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let updated = change_deal(&mut tx, org, current, changes, actor, now).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all)]
            async fn command_deal(
                &self,
                org: Uuid,
                id: Uuid,
                owner: Option<Uuid>,
                command: pipewise_domain::deal::Command,
                at: Option<DateTime<Utc>>,
                if_version: Option<i64>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Deal> {
                let mut tx = self.begin_write().await?;
                let current = load_deal(&mut tx, org, id, owner, true).await?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let updated = command_locked(&mut tx, org, current, command, at, actor, now).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all)]
            async fn deal_events(
                &self,
                org: Uuid,
                id: Uuid,
                owner: Option<Uuid>,
            ) -> $crate::Result<Vec<pipewise_domain::DealEvent>> {
                let mut conn = self.pool.acquire().await?;
                load_deal(&mut conn, org, id, owner, false).await?;
                sqlx::query_as::<_, $crate::deals::DealEventRow>(
                    "select id, deal_id, kind, at, pipeline_id, stage_id, from_stage_id, lost_reason, actor_user_id,
                            actor_api_key_id
                     from deal_events where organization_id = $1 and deal_id = $2 order by at, id",
                )
                .bind(org)
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn trash_deal(
                &self,
                org: Uuid,
                id: Uuid,
                owner: Option<Uuid>,
                if_version: Option<i64>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let current = load_deal(&mut tx, org, id, owner, true).await?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch);
                }
                trash_locked(&mut tx, org, current, actor, now).await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn bulk_deals(
                &self,
                org: Uuid,
                ids: &[Uuid],
                owner: Option<Uuid>,
                edit: $crate::Edit<'_, pipewise_domain::Deal, $crate::Step<$crate::DealEdit>>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<Vec<Uuid>> {
                let mut tx = self.begin_write().await?;
                let (mut deals, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
                for id in $crate::bulk_edit::lock_order(ids) {
                    match load_deal(&mut tx, org, id, owner, true).await {
                        Ok(deal) => deals.push(deal),
                        Err(StoreError::NotFound) => missing.push(id),
                        Err(err) => return Err(err),
                    }
                }
                if !missing.is_empty() {
                    return Err(StoreError::Missing(missing));
                }
                let mut changed = Vec::new();
                for current in deals {
                    let (id, version) = (current.id, current.version);
                    match edit(&current).map_err(StoreError::Refused)? {
                        $crate::Step::Keep => continue,
                        $crate::Step::Change($crate::DealEdit::Fields(changes)) => {
                            if change_deal(&mut tx, org, current, &changes, actor, now).await?.version == version {
                                continue;
                            }
                        }
                        $crate::Step::Change($crate::DealEdit::Command(command)) => {
                            command_locked(&mut tx, org, current, command, None, actor, now).await?;
                        }
                        $crate::Step::Trash => trash_locked(&mut tx, org, current, actor, now).await?,
                    }
                    changed.push(id);
                }
                tx.commit().await?;
                Ok(changed)
            }

            #[tracing::instrument(skip_all)]
            async fn restore_deal(
                &self,
                org: Uuid,
                id: Uuid,
                owner: Option<Uuid>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Deal> {
                let mut tx = self.begin_write().await?;
                let restored = sqlx::query(
                    "update deals set deleted_at = null, version = version + 1, updated_at = $4
                     where organization_id = $1 and id = $2 and deleted_at is not null and ($3 is null or owner_id = $3)",
                )
                .bind(org)
                .bind(id)
                .bind(owner)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if restored == 0 {
                    return Err(StoreError::NotFound);
                }
                let deal = load_deal(&mut tx, org, id, None, false).await?;
                tx.happened(org, actor, $crate::events::Happening::Restored, $crate::events::Record::Deal(&deal), now);
                tx.commit().await?;
                Ok(deal)
            }

            #[tracing::instrument(skip_all)]
            async fn purge_deal(
                &self,
                org: Uuid,
                id: Uuid,
                if_version: Option<i64>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let sql = format!("select version from deals where organization_id = $1 and id = $2 {}", <$store>::FOR_UPDATE);
                let version: i64 = sqlx::query_scalar(&sql)
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if if_version.is_some_and(|v| v != version) {
                    return Err(StoreError::VersionMismatch);
                }
                // The deal as it was, trashed or not, for its last event.
                let purged = read_deal(&mut tx, org, id, None, "true").await?;
                for table in ["deal_events", "deal_contacts"] {
                    sqlx::query(&format!("delete from {table} where deal_id = $1")).bind(id).execute(&mut *tx).await?;
                }
                sqlx::query("delete from deals where id = $1").bind(id).execute(&mut *tx).await?;
                tx.happened(org, actor, $crate::events::Happening::Purged, $crate::events::Record::Deal(&purged), now);
                tx.erase_history(org, "deal", id).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        /// Inserts a deal with its contact links and its `created` event, inside
        /// the caller's transaction: `POST /deals` and lead conversion share it.
        /// The owner is told when someone else gave them the deal.
        async fn insert_deal(
            tx: &mut Tx,
            org: Uuid,
            deal: &$crate::deals::NewDeal,
            actor: Actor,
            now: DateTime<Utc>,
        ) -> $crate::Result<pipewise_domain::Deal> {
            let stage_id = match deal.stage_id {
                Some(stage) => stage,
                None => sqlx::query_scalar(
                    "select id from stages where organization_id = $1 and pipeline_id = $2 order by position limit 1",
                )
                .bind(org)
                .bind(deal.pipeline_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::Invalid("pipeline_id", "must be a pipeline of the organization"))?,
            };
            let stage_pipeline: Option<Uuid> =
                sqlx::query_scalar("select pipeline_id from stages where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(stage_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            match stage_pipeline {
                None if deal.stage_id.is_some() => {
                    return Err(StoreError::Invalid("stage_id", "must be a stage of the organization"))
                }
                Some(p) if p != deal.pipeline_id => {
                    return Err(StoreError::Invalid("stage_id", "must be a stage of the deal's pipeline"))
                }
                _ => {}
            }
            check_deal_refs(tx, org, Some(deal.owner_id), deal.account_id, Some(&deal.contacts)).await?;
            custom_field_store::check_keys(&mut **tx, org, pipewise_domain::custom_field::Resource::Deals, &deal.custom_fields)
                .await?;
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into deals (id, organization_id, pipeline_id, stage_id, title, title_key, amount_minor, currency,
                     status, owner_id, account_id, source, probability, expected_close_date, forecast_category,
                     version, created_at, updated_at, stage_entered_at, external_id, tags, custom_fields)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, 1, $15, $16, $15, $17, $18,
                     $19)",
            )
            .bind(id)
            .bind(org)
            .bind(deal.pipeline_id)
            .bind(stage_id)
            .bind(&deal.title)
            .bind(pipewise_domain::text::search_key(&[Some(&deal.title)]))
            .bind(deal.amount.minor())
            .bind(deal.currency.as_str())
            .bind(deal.owner_id)
            .bind(deal.account_id)
            .bind(deal.source.as_deref())
            .bind(deal.probability.map(|p| i64::from(p.value())))
            .bind(deal.expected_close_date)
            .bind(deal.forecast_category.as_str())
            .bind(deal.created_at)
            .bind(now)
            .bind(deal.external_id.as_deref())
            .bind($crate::rows::tags_json(&deal.tags))
            .bind($crate::custom_fields::values_json(&deal.custom_fields))
            .execute(&mut **tx)
            .await
            .map_err(StoreError::external_id("another deal has this external_id"))?;
            replace_deal_contacts(tx, org, id, &deal.contacts, now).await?;
            insert_deal_event(tx, org, id, "created", deal.created_at, deal.pipeline_id, stage_id, None, None, actor, now).await?;
            lead_core::notify_assignment(
                &mut **tx,
                org,
                actor,
                pipewise_domain::RecordKind::Deal,
                id,
                &deal.title,
                None,
                deal.owner_id,
                now,
            )
            .await?;
            let created = load_deal(&mut **tx, org, id, None, false).await?;
            tx.created(org, actor, $crate::events::Record::Deal(&created), now);
            Ok(created)
        }

        /// Moves `current` (locked, live) to the trash.
        async fn trash_locked(
            tx: &mut Tx,
            org: Uuid,
            current: pipewise_domain::Deal,
            actor: Actor,
            now: DateTime<Utc>,
        ) -> $crate::Result<()> {
            sqlx::query(
                "update deals set deleted_at = $3, version = version + 1, updated_at = $3
                 where organization_id = $1 and id = $2",
            )
            .bind(org)
            .bind(current.id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let trashed = read_deal(tx, org, current.id, None, "true").await?;
            tx.happened(org, actor, $crate::events::Happening::Deleted, $crate::events::Record::Deal(&trashed), now);
            Ok(())
        }

        /// Applies `changes` to `current` (locked) and tells a new owner; a
        /// write that changes nothing changes nothing (no new version).
        async fn change_deal(
            tx: &mut Tx,
            org: Uuid,
            current: pipewise_domain::Deal,
            changes: &$crate::deals::DealChanges,
            actor: Actor,
            now: DateTime<Utc>,
        ) -> $crate::Result<pipewise_domain::Deal> {
            let id = current.id;
        // A write that changes nothing changes nothing: the version stays.
        if changes.leaves_unchanged(&current) {
            return Ok(current);
        }
        let account = changes.account_id.unwrap_or(current.account_id);
        let custom_fields = &current.custom_fields.patched(&changes.custom_fields);
        if *custom_fields != current.custom_fields {
            custom_field_store::check_keys(&mut **tx, org, pipewise_domain::custom_field::Resource::Deals, custom_fields).await?;
        }
        check_deal_refs(tx, org, changes.owner_id, changes.account_id.flatten(), changes.contacts.as_deref()).await?;
        let title = changes.title.clone().unwrap_or(current.title.clone());
        sqlx::query(
            "update deals set title = $3, title_key = $4, amount_minor = $5, currency = $6, owner_id = $7,
                 account_id = $8, source = $9, probability = $10, expected_close_date = $11,
                 forecast_category = $12, version = version + 1, updated_at = $13, external_id = $14,
                 tags = $15, custom_fields = $16
             where organization_id = $1 and id = $2",
        )
        .bind(org)
        .bind(id)
        .bind(&title)
        .bind(pipewise_domain::text::search_key(&[Some(&title)]))
        .bind(changes.amount.unwrap_or(current.amount).minor())
        .bind(changes.currency.unwrap_or(current.currency).as_str())
        .bind(changes.owner_id.unwrap_or(current.owner_id))
        .bind(account)
        .bind(changes.source.clone().unwrap_or(current.source.clone()))
        .bind(changes.probability.unwrap_or(current.probability).map(|p| i64::from(p.value())))
        .bind(changes.expected_close_date.unwrap_or(current.expected_close_date))
        .bind(changes.forecast_category.unwrap_or(current.forecast_category).as_str())
        .bind(now)
        .bind(changes.external_id.clone().unwrap_or(current.external_id.clone()))
        .bind($crate::rows::tags_json(changes.tags.as_ref().unwrap_or(&current.tags)))
        .bind($crate::custom_fields::values_json(custom_fields))
        .execute(&mut **tx)
        .await
        .map_err(StoreError::external_id("another deal has this external_id"))?;
        if let Some(contacts) = &changes.contacts {
            replace_deal_contacts(tx, org, id, contacts, now).await?;
        }
        let updated = load_deal(&mut **tx, org, id, None, false).await?;
        lead_core::notify_assignment(
            &mut **tx,
            org,
            actor,
            pipewise_domain::RecordKind::Deal,
            id,
            &updated.title,
            Some(current.owner_id),
            updated.owner_id,
            now,
        )
        .await?;
        tx.changed(org, actor, $crate::events::Record::Deal(&current), $crate::events::Record::Deal(&updated), now);
        Ok(updated)

        }

        /// Applies `command` to `current` (locked) at `at` (default now), with its event.
        async fn command_locked(
            tx: &mut Tx,
            org: Uuid,
            current: pipewise_domain::Deal,
            command: pipewise_domain::deal::Command,
            at: Option<DateTime<Utc>>,
            actor: Actor,
            now: DateTime<Utc>,
        ) -> $crate::Result<pipewise_domain::Deal> {
            use pipewise_domain::deal::{self, Command, DealState, StageRef, TransitionError};
            let id = current.id;
        let last_event_at: Option<DateTime<Utc>> =
            sqlx::query_scalar("select max(at) from deal_events where deal_id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        let last_event_at = last_event_at.unwrap_or(current.created_at);
        let at = match at {
            Some(at) => {
                deal::check_event_time(at, now, Some(last_event_at)).map_err(|e| match e {
                    deal::EventTimeError::InTheFuture => StoreError::Invalid("at", "must not be in the future"),
                    deal::EventTimeError::BeforePreviousEvent => {
                        StoreError::Invalid("at", "must not be before the deal's previous event")
                    }
                })?;
                at
            }
            // Not backdated: now, unless a server whose clock runs ahead (or this
            // one's, stepped back) wrote a later event; the log stays in order and
            // nobody is refused over an `at` they did not send.
            None => now.max(last_event_at),
        };
        // The target stage (and so its pipeline) must be the organization's.
        let command = match command {
            Command::Move { to } => Command::Move { to: stage_ref(tx, org, to.stage_id).await? },
            Command::Reopen { to: Some(to) } => {
                Command::Reopen { to: Some(stage_ref(tx, org, to.stage_id).await?) }
            }
            other => other,
        };
        let state = DealState {
            status: current.status,
            stage: StageRef { pipeline_id: current.pipeline_id, stage_id: current.stage_id },
            last_event_at,
        };
        let transition = deal::apply(&state, command, at).map_err(|e| {
            StoreError::Conflict(match e {
                TransitionError::MoveClosed => "only an open deal can move; reopen it first",
                TransitionError::SameStage => "the deal is already in this stage",
                TransitionError::AlreadyClosed => "the deal is already closed; reopen it first",
                TransitionError::NotClosed => "the deal is open; only a won or lost deal can be reopened",
            })
        })?;
        let stage_changed = transition.stage.stage_id != current.stage_id;
        let closed_at = match transition.status {
            pipewise_domain::deal::DealStatus::Open => None,
            _ => Some(transition.at),
        };
        sqlx::query(
            "update deals set status = $3, pipeline_id = $4, stage_id = $5, closed_at = $6, lost_reason = $7,
                 stage_entered_at = case when $8 = 1 then $9 else stage_entered_at end,
                 version = version + 1, updated_at = $10
             where organization_id = $1 and id = $2",
        )
        .bind(org)
        .bind(id)
        .bind(transition.status.as_str())
        .bind(transition.stage.pipeline_id)
        .bind(transition.stage.stage_id)
        .bind(closed_at)
        .bind(transition.lost_reason.as_ref().map(|r| r.as_str().to_owned()))
        .bind(i64::from(stage_changed || transition.kind == pipewise_domain::deal::EventKind::Reopened))
        .bind(transition.at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        insert_deal_event(
            tx,
            org,
            id,
            transition.kind.as_str(),
            transition.at,
            transition.stage.pipeline_id,
            transition.stage.stage_id,
            transition.from_stage,
            transition.lost_reason.as_ref().map(|r| r.as_str()),
            actor,
            now,
        )
        .await?;
        let updated = load_deal(&mut **tx, org, id, None, false).await?;
        tx.changed(org, actor, $crate::events::Record::Deal(&current), $crate::events::Record::Deal(&updated), now);
        Ok(updated)

        }

        /// A deal with its contacts; `for_update` locks the row on PostgreSQL.
        async fn load_deal(
            conn: &mut Conn,
            org: Uuid,
            id: Uuid,
            owner: Option<Uuid>,
            for_update: bool,
        ) -> $crate::Result<pipewise_domain::Deal> {
            if for_update {
                // Every write to a deal takes this lock first, so writes queue up on the
                // row and each one reads what the previous one committed. The lock is
                // taken on `deals` alone: behind a join, PostgreSQL rechecks a row that
                // changed while it waited against the stage it had joined before, so a
                // deal that had just moved would vanish (404) instead of being read again.
                let sql = format!(
                    "select id from deals where organization_id = $1 and id = $2 {}",
                    <$store>::FOR_UPDATE
                );
                sqlx::query_scalar::<_, Uuid>(&sql).bind(org).bind(id).fetch_optional(&mut *conn).await?;
            }
            read_deal(conn, org, id, owner, "d.deleted_at is null").await
        }

        /// A deal with its contacts, if it matches `filter` (such as `d.deleted_at is null`).
        async fn read_deal(
            conn: &mut Conn,
            org: Uuid,
            id: Uuid,
            owner: Option<Uuid>,
            filter: &str,
        ) -> $crate::Result<pipewise_domain::Deal> {
            let sql = format!(
                "select {} from deals d join stages s on s.id = d.stage_id
                 where d.organization_id = $1 and d.id = $2 and {filter} and ($3 is null or d.owner_id = $3)",
                $crate::deals::DEAL_COLUMNS
            );
            let row = sqlx::query_as::<_, $crate::deals::DealRow>(&sql)
                .bind(org)
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut deals = with_contacts(conn, vec![row]).await?;
            Ok(deals.remove(0))
        }

        async fn with_contacts(
            conn: &mut Conn,
            rows: Vec<$crate::deals::DealRow>,
        ) -> $crate::Result<Vec<pipewise_domain::Deal>> {
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut sql = $crate::sql::Sql::new("select deal_id, contact_id, buying_role from deal_contacts where deal_id in (");
            for (i, row) in rows.iter().enumerate() {
                let placeholder = sql.arg($crate::sql::Arg::Uuid(row.id()));
                if i > 0 {
                    sql.push(", ");
                }
                sql.push(&placeholder);
            }
            sql.push(") order by contact_id");
            let links: Vec<$crate::deals::DealContactRow> =
                $crate::sql::bind_args!(sqlx::query_as::<_, $crate::deals::DealContactRow>(&sql.text), &sql.args)
                    .fetch_all(&mut *conn)
                    .await?;
            rows.into_iter()
                .map(|row| {
                    let contacts = links.iter().filter(|l| l.deal_id == row.id()).map(|l| l.contact()).collect();
                    row.into_deal(contacts)
                })
                .collect()
        }

        /// Owner, account and contacts must all belong to the organization (and be usable).
        async fn check_deal_refs(
            tx: &mut Tx,
            org: Uuid,
            owner: Option<Uuid>,
            account: Option<Uuid>,
            contacts: Option<&[pipewise_domain::DealContact]>,
        ) -> $crate::Result<()> {
            if let Some(owner) = owner {
                let active: Option<bool> = sqlx::query_scalar("select active from users where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(owner)
                    .fetch_optional(&mut **tx)
                    .await?;
                if active != Some(true) {
                    return Err(StoreError::Invalid("owner_id", "must be an active user of the organization"));
                }
            }
            if let Some(account) = account {
                let found: Option<Uuid> = sqlx::query_scalar(
                    "select id from accounts where organization_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(org)
                .bind(account)
                .fetch_optional(&mut **tx)
                .await?;
                if found.is_none() {
                    return Err(StoreError::Invalid("account_id", "must be an account of the organization"));
                }
            }
            for link in contacts.unwrap_or_default() {
                let found: Option<Uuid> = sqlx::query_scalar(
                    "select id from contacts where organization_id = $1 and id = $2 and deleted_at is null",
                )
                .bind(org)
                .bind(link.contact_id)
                .fetch_optional(&mut **tx)
                .await?;
                if found.is_none() {
                    return Err(StoreError::Invalid("contacts", "must be contacts of the organization"));
                }
            }
            Ok(())
        }

        async fn replace_deal_contacts(
            tx: &mut Tx,
            org: Uuid,
            deal: Uuid,
            contacts: &[pipewise_domain::DealContact],
            now: DateTime<Utc>,
        ) -> $crate::Result<()> {
            sqlx::query("delete from deal_contacts where deal_id = $1").bind(deal).execute(&mut **tx).await?;
            for link in contacts {
                sqlx::query(
                    "insert into deal_contacts (deal_id, contact_id, organization_id, buying_role, created_at)
                     values ($1, $2, $3, $4, $5)",
                )
                .bind(deal)
                .bind(link.contact_id)
                .bind(org)
                .bind(link.buying_role.map(|r| r.as_str()))
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::unique("a contact is listed twice"))?;
            }
            Ok(())
        }

        async fn stage_ref(tx: &mut Tx, org: Uuid, stage: Uuid) -> $crate::Result<pipewise_domain::deal::StageRef> {
            let pipeline: Option<Uuid> = sqlx::query_scalar("select pipeline_id from stages where organization_id = $1 and id = $2")
                .bind(org)
                .bind(stage)
                .fetch_optional(&mut **tx)
                .await?;
            pipeline
                .map(|pipeline_id| pipewise_domain::deal::StageRef { pipeline_id, stage_id: stage })
                .ok_or(StoreError::Invalid("stage_id", "must be a stage of the organization"))
        }

        #[allow(clippy::too_many_arguments)]
        async fn insert_deal_event(
            tx: &mut Tx,
            org: Uuid,
            deal: Uuid,
            kind: &str,
            at: DateTime<Utc>,
            pipeline: Uuid,
            stage: Uuid,
            from_stage: Option<Uuid>,
            lost_reason: Option<&str>,
            actor: Actor,
            now: DateTime<Utc>,
        ) -> $crate::Result<()> {
            let (user, key, _) = actor.ids();
            let id = Uuid::now_v7();
            // Callers have written the deal's new state already: the event
            // opens a stint when it leaves the deal open in a stage.
            sqlx::query(
                "insert into deal_events (id, organization_id, deal_id, kind, at, pipeline_id, stage_id, from_stage_id,
                     lost_reason, actor_user_id, actor_api_key_id, created_at, opens_stint)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                     case when $4 in ('created', 'moved', 'reopened')
                          and (select status from deals where id = $3) = 'open' then 1 else 0 end)",
            )
            .bind(id)
            .bind(org)
            .bind(deal)
            .bind(kind)
            .bind(at)
            .bind(pipeline)
            .bind(stage)
            .bind(from_stage)
            .bind(lost_reason)
            .bind(user)
            .bind(key)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            // The event ends the state its predecessor set, and (should two
            // events share an instant, their ids deciding the order) its own
            // ends where its successor begins.
            // Each link carries the state's duration, computed as the reports
            // computed it before it was kept (`duration_ms`).
            let linked = format!(
                "update deal_events set ends_at = $3, next_kind = $4, next_pipeline_id = $5, next_stage_id = $6,
                     duration_ms = {}
                 where id = (select p.id from deal_events p where p.deal_id = $1 and (p.at, p.id) < ($3, $2)
                             order by p.at desc, p.id desc limit 1)",
                $crate::reports::ms_between(BACKEND, "$3", "at")
            );
            sqlx::query(&linked)
            .bind(deal)
            .bind(id)
            .bind(at)
            .bind(kind)
            .bind(pipeline)
            .bind(stage)
            .execute(&mut **tx)
            .await?;
            let own = format!(
                "update deal_events set (ends_at, next_kind, next_pipeline_id, next_stage_id, duration_ms) =
                     (select n.at, n.kind, n.pipeline_id, n.stage_id, {} from deal_events n
                      where n.deal_id = $1 and (n.at, n.id) > ($3, $2) order by n.at, n.id limit 1)
                 where id = $2",
                $crate::reports::ms_between(BACKEND, "n.at", "$3")
            );
            sqlx::query(&own)
                .bind(deal)
                .bind(id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            // Events are appended in order (never before the previous one), so
            // this is the latest event's instant.
            sqlx::query("update deals set last_event_at = $2 where id = $1")
                .bind(deal)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    };
}

pub(crate) use impl_deal_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sort: DealSortField, descending: bool, after: Option<(SortValue, Uuid)>) -> DealPage {
        DealPage {
            sort,
            descending,
            after,
            limit: 51,
        }
    }

    #[test]
    fn a_cursor_is_a_row_value_range() {
        let after = Some((SortValue::Time(DateTime::UNIX_EPOCH), Uuid::nil()));
        let sql = list_queries(
            Uuid::nil(),
            &DealFilter::default(),
            &page(DealSortField::CreatedAt, true, after),
        );
        assert_eq!(sql.len(), 1);
        assert!(sql[0]
            .text
            .ends_with("and (d.created_at, d.id) < ($2, $3) order by d.created_at desc, d.id desc limit $4"));
    }

    #[test]
    fn the_close_date_sort_lists_dated_deals_then_undated_ones() {
        let id = Uuid::nil();
        let date = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
        let first = list_queries(
            id,
            &DealFilter::default(),
            &page(DealSortField::ExpectedCloseDate, true, None),
        );
        assert_eq!(first.len(), 2);
        assert!(first[0].text.contains("and d.expected_close_date is not null order by"));
        assert!(first[1].text.contains("and d.expected_close_date is null order by"));

        let later = list_queries(
            id,
            &DealFilter::default(),
            &page(
                DealSortField::ExpectedCloseDate,
                false,
                Some((SortValue::Date(Some(date)), id)),
            ),
        );
        assert_eq!(later.len(), 2);
        assert!(later[0]
            .text
            .contains("and d.expected_close_date is not null and (d.expected_close_date, d.id) > ($2, $3)"));

        let tail = list_queries(
            id,
            &DealFilter::default(),
            &page(
                DealSortField::ExpectedCloseDate,
                false,
                Some((SortValue::Date(None), id)),
            ),
        );
        assert_eq!(tail.len(), 1);
        assert!(tail[0]
            .text
            .contains("and d.expected_close_date is null and d.id > $2 order by"));
    }
}
