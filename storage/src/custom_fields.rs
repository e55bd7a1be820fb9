//! Custom field definitions, and what records keep of their values.
//!
//! Definitions are created under the organization's `custom_fields` lock,
//! taken whole, so that the cap on fields per kind of record and the unique
//! keys hold for parallel creates. A field's deletion takes its values off
//! every record in the same transaction, under the `custom_fields:delete`
//! lock taken whole; a record write that changes custom values holds that
//! lock shared and checks, in its own transaction, that every key it writes
//! is still defined ([`check_keys`]). It does not wait for the lock: it
//! already holds its record's row lock, which the deletion may be waiting
//! for, so it answers 409 (try again) while a deletion runs.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{
    custom_field::{FieldType, Resource},
    CustomField, CustomValue, CustomValues, FieldKey,
};
use uuid::Uuid;

use crate::{Actor, Edit, Result, StoreError};

/// A filter on a custom field: records whose value of `key` (one of its
/// options, for a multi_select) is `term`, the value in its kept form,
/// compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFilter {
    pub key: String,
    pub term: String,
}

/// The condition each filter adds to a query of records of `kind`, whose
/// id column is `id_column`, as SQL with `{}` for each argument.
pub(crate) fn filter_sql(id_column: &str) -> String {
    format!(
        " and {id_column} in (select record_id from record_custom_values
           where organization_id = {{}} and kind = {{}} and field_key = {{}} and value = lower({{}}))"
    )
}

/// Appends the conditions of `filters` to a query builder over records of `kind`.
pub(crate) fn push_filters<'a, DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    kind: &'static str,
    org: Uuid,
    filters: &[CustomFilter],
) where
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for filter in filters {
        qb.push(" and id in (select record_id from record_custom_values where organization_id = ")
            .push_bind(org)
            .push(" and kind = ")
            .push_bind(kind.to_owned())
            .push(" and field_key = ")
            .push_bind(filter.key.clone())
            .push(" and value = lower(")
            .push_bind(filter.term.clone())
            .push("))");
    }
}

/// A field to define.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomField {
    pub resource: Resource,
    pub key: FieldKey,
    pub label: String,
    pub field_type: FieldType,
    pub options: Vec<String>,
    pub required: bool,
}

/// What may change in a field once defined: its key and type stay.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub label: String,
    pub options: Vec<String>,
    pub required: bool,
}

#[async_trait]
pub trait CustomFieldStore {
    /// The organization's fields (of `resource` when given), oldest first.
    async fn custom_fields(&self, org: Uuid, resource: Option<Resource>) -> Result<Vec<CustomField>>;
    async fn custom_field(&self, org: Uuid, id: Uuid) -> Result<CustomField>;
    /// `Conflict` when a field of the resource has the key, or the resource
    /// has its fifty fields already.
    async fn create_custom_field(
        &self,
        org: Uuid,
        field: &NewCustomField,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<CustomField>;
    /// Replaces what `edit` makes of the field, under its lock.
    async fn update_custom_field(
        &self,
        org: Uuid,
        id: Uuid,
        edit: Edit<'_, CustomField, FieldChange>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<CustomField>;
    /// Deletes the field (if at `if_version`, when given) and its value on
    /// every record, in one transaction.
    async fn delete_custom_field(
        &self,
        org: Uuid,
        id: Uuid,
        if_version: Option<i64>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct CustomFieldRow {
    pub(crate) id: Uuid,
    pub(crate) organization_id: Uuid,
    pub(crate) resource: String,
    pub(crate) key: String,
    pub(crate) label: String,
    #[sqlx(rename = "type")]
    pub(crate) field_type: String,
    pub(crate) options: String,
    pub(crate) required: bool,
    pub(crate) version: i64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl TryFrom<CustomFieldRow> for CustomField {
    type Error = StoreError;
    fn try_from(row: CustomFieldRow) -> Result<Self> {
        let bad = |what: &str| StoreError::Corrupt(format!("custom field {}: {what}", row.id));
        Ok(CustomField {
            id: row.id,
            organization_id: row.organization_id,
            resource: Resource::parse(&row.resource).ok_or_else(|| bad("resource"))?,
            key: FieldKey::parse(&row.key).map_err(|_| bad("key"))?,
            label: row.label.clone(),
            field_type: FieldType::parse(&row.field_type).ok_or_else(|| bad("type"))?,
            options: serde_json::from_str(&row.options).map_err(|_| bad("options"))?,
            required: row.required,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A record's values as its `custom_fields` column keeps them: a JSON object.
pub(crate) fn values_json(values: &CustomValues) -> String {
    let object: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(key, value)| {
            let json = match value {
                CustomValue::Text(t) => serde_json::Value::from(t.as_str()),
                CustomValue::Integer(n) => serde_json::Value::from(*n),
                CustomValue::Boolean(b) => serde_json::Value::from(*b),
                CustomValue::List(items) => serde_json::Value::from(items.clone()),
            };
            (key.to_owned(), json)
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// The values a `custom_fields` column holds.
pub(crate) fn read_values(raw: &str) -> Result<CustomValues> {
    let bad = || StoreError::Corrupt(format!("custom fields: {raw}"));
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw).map_err(|_| bad())?;
    let mut values = BTreeMap::new();
    for (key, json) in object {
        let value = match json {
            serde_json::Value::String(t) => CustomValue::Text(t),
            serde_json::Value::Bool(b) => CustomValue::Boolean(b),
            serde_json::Value::Number(n) => CustomValue::Integer(n.as_i64().ok_or_else(bad)?),
            serde_json::Value::Array(items) => CustomValue::List(
                items
                    .into_iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
                    .collect::<Result<_>>()?,
            ),
            _ => return Err(bad()),
        };
        values.insert(key, value);
    }
    Ok(CustomValues::new(values))
}

/// The table of a kind of record.
pub(crate) fn table_of(resource: Resource) -> &'static str {
    resource.as_str()
}

/// Implements [`CustomFieldStore`] and [`check_keys`] for a store type with
/// `pool`, `begin_write`, `lock_key`, `try_lock_key_shared` and
/// `REMOVE_CUSTOM_VALUE` (the backend's way to take a key off a JSON object).
macro_rules! impl_custom_field_store {
    ($store:ty) => {
        mod custom_field_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{custom_field::Resource, CustomField, CustomValues};
            use ::uuid::Uuid;
            use $crate::custom_fields::{table_of, CustomFieldRow, FieldChange, NewCustomField};
            use $crate::{Actor, StoreError};

            /// Joins the record writes that carry custom values: the shared
            /// side of the deletions' lock, or `Conflict` while one runs. Then
            /// refuses (`Invalid` on `custom_fields`) a key that is no longer
            /// defined: the API checked the values against the definitions
            /// before this transaction began, and a field may be gone since.
            pub(crate) async fn check_keys(
                conn: &mut Conn,
                org: Uuid,
                resource: Resource,
                values: &CustomValues,
            ) -> $crate::Result<()> {
                if values.is_empty() {
                    return Ok(());
                }
                if !super::try_lock_key_shared(conn, org, "custom_fields:delete").await? {
                    return Err(StoreError::Conflict(
                        "a custom field is being deleted; try again in a moment",
                    ));
                }
                let keys: Vec<&str> = values.keys().collect();
                let mut qb = sqlx::QueryBuilder::new("select count(*) from custom_fields where organization_id = ");
                qb.push_bind(org)
                    .push(" and resource = ")
                    .push_bind(resource.as_str())
                    .push(" and key in (");
                let mut list = qb.separated(", ");
                for key in &keys {
                    list.push_bind(*key);
                }
                qb.push(")");
                let defined: i64 = qb.build_query_scalar().fetch_one(&mut *conn).await?;
                if defined as usize != keys.len() {
                    return Err(StoreError::Invalid(
                        "custom_fields",
                        "names a custom field that was deleted meanwhile",
                    ));
                }
                Ok(())
            }

            #[async_trait::async_trait]
            impl $crate::custom_fields::CustomFieldStore for $store {
                #[tracing::instrument(skip_all)]
                async fn custom_fields(&self, org: Uuid, resource: Option<Resource>) -> $crate::Result<Vec<CustomField>> {
                    sqlx::query_as::<_, CustomFieldRow>(
                        "select * from custom_fields where organization_id = $1 and ($2 is null or resource = $2)
                         order by id",
                    )
                    .bind(org)
                    .bind(resource.map(|r| r.as_str()))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn custom_field(&self, org: Uuid, id: Uuid) -> $crate::Result<CustomField> {
                    sqlx::query_as::<_, CustomFieldRow>("select * from custom_fields where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?
                        .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn create_custom_field(
                    &self,
                    org: Uuid,
                    field: &NewCustomField,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<CustomField> {
                    let mut tx = self.begin_write().await?;
                    super::lock_key(&mut tx, org, "custom_fields").await?;
                    let (count, taken): (i64, i64) = sqlx::query_as(
                        "select count(*), coalesce(sum(case when key = $3 then 1 else 0 end), 0)
                         from custom_fields where organization_id = $1 and resource = $2",
                    )
                    .bind(org)
                    .bind(field.resource.as_str())
                    .bind(field.key.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    if taken > 0 {
                        return Err(StoreError::Conflict("a custom field of these records already has this key"));
                    }
                    if count as usize >= ::pipewise_domain::custom_field::FIELDS_MAX {
                        return Err(StoreError::Conflict("these records have the most custom fields they may have (50)"));
                    }
                    let row = sqlx::query_as::<_, CustomFieldRow>(
                        "insert into custom_fields (id, organization_id, resource, key, label, type, options, required,
                                                    version, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
                         returning *",
                    )
                    .bind(Uuid::now_v7())
                    .bind(org)
                    .bind(field.resource.as_str())
                    .bind(field.key.as_str())
                    .bind(&field.label)
                    .bind(field.field_type.as_str())
                    .bind(serde_json::to_string(&field.options).expect("strings serialize"))
                    .bind(field.required)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    audit(&mut tx, org, actor, "custom_field.created", Some(row.id), now).await?;
                    tx.commit().await?;
                    row.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn update_custom_field(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    edit: $crate::Edit<'_, CustomField, FieldChange>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<CustomField> {
                    let mut tx = self.begin_write().await?;
                    let current: CustomField =
                        super::lock_row::<CustomFieldRow>(&mut tx, "custom_fields", org, id, "1 = 1").await?.try_into()?;
                    let change = edit(&current).map_err(StoreError::Refused)?;
                    // A write that changes nothing changes nothing: no new version.
                    if (&change.label, &change.options, change.required) == (&current.label, &current.options, current.required) {
                        return Ok(current);
                    }
                    let row = sqlx::query_as::<_, CustomFieldRow>(
                        "update custom_fields set label = $3, options = $4, required = $5, version = version + 1, updated_at = $6
                         where organization_id = $1 and id = $2 returning *",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(&change.label)
                    .bind(serde_json::to_string(&change.options).expect("strings serialize"))
                    .bind(change.required)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    audit(&mut tx, org, actor, "custom_field.updated", Some(id), now).await?;
                    tx.commit().await?;
                    row.try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn delete_custom_field(
                    &self,
                    org: Uuid,
                    id: Uuid,
                    if_version: Option<i64>,
                    actor: Actor,
                    now: DateTime<Utc>,
                ) -> $crate::Result<()> {
                    let mut tx = self.begin_write().await?;
                    super::lock_key(&mut tx, org, "custom_fields:delete").await?;
                    let current: CustomField =
                        super::lock_row::<CustomFieldRow>(&mut tx, "custom_fields", org, id, "1 = 1").await?.try_into()?;
                    if if_version.is_some_and(|v| v != current.version) {
                        return Err(StoreError::VersionMismatch);
                    }
                    sqlx::query("delete from custom_fields where organization_id = $1 and id = $2")
                        .bind(org)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    // Only the records the index says hold a value change.
                    let sql = format!(
                        "update {table} set custom_fields = {remove}
                         where organization_id = $1 and id in (
                             select record_id from record_custom_values
                             where organization_id = $1 and kind = $3 and field_key = $2)",
                        table = table_of(current.resource),
                        remove = <$store>::REMOVE_CUSTOM_VALUE,
                    );
                    sqlx::query(&sql)
                        .bind(org)
                        .bind(current.key.as_str())
                        .bind(current.resource.as_str().trim_end_matches('s'))
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, org, actor, "custom_field.deleted", Some(id), now).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_custom_field_store;
