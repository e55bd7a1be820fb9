//! What each valid row of a batch does, given the records its keys match:
//! the same rules for every resource. A row is matched by `external_id`,
//! else by its key (a lead's or contact's email, an account's domain);
//! without `dedupe` a match fails the row, with `skip` it is skipped, with
//! `update` the row's cells are applied as a `PATCH` (by the resource).

use std::collections::{HashMap, HashSet};

use pipewise_domain::{import::Dedupe, Account, Contact, Deal, Lead};
use pipewise_storage::{Found, ImportTx};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Batch, Context, Outcome};
use crate::{error::ApiError, fields::Fields, problem::FieldError, routes::contacts::reject_account};

/// A row that parsed into a new record.
pub struct Candidate<N> {
    pub index: usize,
    pub new: N,
    /// The row's non-blank cells, for an update.
    pub object: Map<String, Value>,
}

/// What a new record is matched by.
pub struct Keys {
    pub external_id: Option<String>,
    pub key: Option<String>,
}

/// A record rows can match.
pub trait Matched: Clone {
    fn id(&self) -> Uuid;
    fn owner_id(&self) -> Uuid;
    fn trashed(&self) -> bool;
}

macro_rules! matched {
    ($($record:ty),*) => {$(
        impl Matched for $record {
            fn id(&self) -> Uuid {
                self.id
            }
            fn owner_id(&self) -> Uuid {
                self.owner_id
            }
            fn trashed(&self) -> bool {
                self.deleted_at.is_some()
            }
        }
    )*};
}

matched!(Lead, Contact, Account, Deal);

/// How messages name a resource's records.
pub struct Names {
    /// `lead`, `contact`, `account`.
    pub record: &'static str,
    /// The key's field: `email`, `domain`.
    pub key: &'static str,
    /// The kind of record that may hold the key elsewhere (`contact` for a lead).
    pub elsewhere: &'static str,
    /// Whether reps read every record of the kind (contacts, accounts) or
    /// only their own (leads): a message names a record only to those who may read it.
    pub readable_by_reps: bool,
}

/// A matched record a row is to update, with the row's cells.
pub struct Update<R> {
    pub index: usize,
    pub current: R,
    pub object: Map<String, Value>,
}

/// The rows of `batch` that `parse` reads into new records; the others fail.
pub fn candidates<N>(
    ctx: &Context<'_>,
    batch: &mut Batch,
    parse: impl Fn(Map<String, Value>) -> Result<N, Vec<FieldError>>,
) -> Vec<Candidate<N>> {
    let mut candidates = Vec::new();
    for index in 0..batch.rows.len() {
        let Some(object) = batch.take_object(index) else {
            continue;
        };
        match parse(object.clone()) {
            Ok(new) => candidates.push(Candidate { index, new, object }),
            Err(errors) => batch.fail_fields(index, ctx, errors),
        }
    }
    candidates
}

/// The live accounts of those the candidates name (`account` of the new
/// record, or the `account_id` cell an update would write); a candidate
/// whose new record names another fails on `account_id`.
pub async fn live_accounts<N>(
    ctx: &Context<'_>,
    tx: &mut dyn ImportTx,
    batch: &mut Batch,
    candidates: Vec<Candidate<N>>,
    account: impl Fn(&N) -> Option<Uuid>,
) -> Result<(Vec<Candidate<N>>, HashSet<Uuid>), ApiError> {
    let named: Vec<Uuid> = candidates
        .iter()
        .flat_map(|c| {
            let update = c
                .object
                .get("account_id")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok());
            account(&c.new).into_iter().chain(update)
        })
        .collect::<HashSet<Uuid>>()
        .into_iter()
        .collect();
    let live: HashSet<Uuid> = tx.live_accounts(&named).await?.into_iter().collect();
    let candidates = candidates
        .into_iter()
        .filter_map(|c| match account(&c.new) {
            Some(account) if !live.contains(&account) => {
                let mut fields = Fields::default();
                reject_account(&mut fields);
                batch.fail_fields(c.index, ctx, fields.into_errors());
                None
            }
            _ => Some(c),
        })
        .collect();
    Ok((candidates, live))
}

/// The changes the matched rows make, as `change` computes them (`None`:
/// no change, the row is skipped); the rows are marked accordingly.
pub fn changes<R: Matched, C>(
    ctx: &Context<'_>,
    batch: &mut Batch,
    matched: Vec<Update<R>>,
    change: impl Fn(&R, Map<String, Value>) -> Result<Option<C>, Vec<FieldError>>,
) -> Vec<(R, C)> {
    let mut out = Vec::new();
    for Update { index, current, object } in matched {
        match change(&current, object) {
            Ok(Some(next)) => {
                batch.outcomes[index] = Outcome::Updated(current.id());
                out.push((current, next));
            }
            Ok(None) => batch.outcomes[index] = Outcome::Skipped(current.id()),
            Err(errors) => batch.fail_fields(index, ctx, errors),
        }
    }
    out
}

/// Settles each candidate: the new records to insert (their rows marked
/// created), the updates to compute (with `dedupe=update`), and every
/// other row failed or skipped.
pub fn settle<N, R: Matched>(
    ctx: &Context<'_>,
    batch: &mut Batch,
    candidates: Vec<Candidate<N>>,
    found: &Found<R>,
    names: &Names,
    keys: impl Fn(&N) -> Keys,
    id_of: impl Fn(&N) -> Uuid,
) -> (Vec<N>, Vec<Update<R>>) {
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut pending_external: HashMap<String, usize> = HashMap::new();
    let mut pending_key: HashMap<String, usize> = HashMap::new();
    let mut matched_rows: HashMap<Uuid, usize> = HashMap::new();
    let named = |id: Uuid, owner: Option<Uuid>| {
        let readable = names.readable_by_reps || ctx.caller.visible_owner().is_none_or(|me| Some(me) == owner);
        if readable {
            format!(" ({id})")
        } else {
            String::new()
        }
    };
    for Candidate { index, new, object } in candidates {
        let Keys { external_id, key } = keys(&new);
        let by_external = external_id.as_ref().and_then(|e| found.by_external_id.get(e));
        let by_key = key.as_ref().and_then(|k| found.by_key.get(k));
        let (column, matched) = match (by_external, by_key) {
            (Some(record), _) => ("external_id", Some(record)),
            (None, Some(record)) => (names.key, Some(record)),
            (None, None) => ("", None),
        };
        if let Some(record) = matched {
            let id = record.id();
            // One row per record: a second would write over the first.
            if let Some(earlier) = matched_rows.insert(id, index) {
                if ctx.dedupe == Some(Dedupe::Skip) {
                    batch.outcomes[index] = Outcome::Skipped(id);
                } else {
                    let line = batch.rows[earlier].line;
                    batch.fail(index, ctx.layout.column_of(column), format!("repeats line {line}"));
                }
                continue;
            }
            match ctx.dedupe {
                None => {
                    let message = format!(
                        "{} has this {column}{}",
                        a(names.record),
                        named(id, Some(record.owner_id()))
                    );
                    batch.fail(index, ctx.layout.column_of(column), message);
                }
                Some(Dedupe::Skip) => batch.outcomes[index] = Outcome::Skipped(id),
                Some(Dedupe::Update) if record.trashed() => {
                    let message = format!(
                        "matches {} in the trash{}: restore it first",
                        a(names.record),
                        named(id, Some(record.owner_id()))
                    );
                    batch.fail(index, ctx.layout.column_of(column), message);
                }
                Some(Dedupe::Update) if ctx.caller.ensure_can_change(record.owner_id()).is_err() => {
                    let message = format!(
                        "matches {} of another user: reps update only their own",
                        a(names.record)
                    );
                    batch.fail(index, ctx.layout.column_of(column), message);
                }
                Some(Dedupe::Update) => updates.push(Update {
                    index,
                    current: record.clone(),
                    object,
                }),
            }
            continue;
        }
        if let Some(other) = key.as_ref().and_then(|k| found.held_elsewhere.get(k)) {
            match ctx.dedupe {
                None => {
                    let message = format!("{} has this {}{}", a(names.elsewhere), names.key, named(*other, None));
                    batch.fail(index, ctx.layout.column_of(names.key), message);
                }
                // It is another kind of record: an update of it has no place here.
                Some(_) => batch.outcomes[index] = Outcome::Skipped(*other),
            }
            continue;
        }
        let earlier = external_id
            .as_ref()
            .and_then(|e| pending_external.get(e).map(|row| ("external_id", *row)))
            .or_else(|| {
                key.as_ref()
                    .and_then(|k| pending_key.get(k).map(|row| (names.key, *row)))
            });
        if let Some((column, earlier)) = earlier {
            match (ctx.dedupe, batch.outcomes[earlier]) {
                (Some(Dedupe::Skip), Outcome::Created(id)) => batch.outcomes[index] = Outcome::Skipped(id),
                _ => {
                    let line = batch.rows[earlier].line;
                    batch.fail(index, ctx.layout.column_of(column), format!("repeats line {line}"));
                }
            }
            continue;
        }
        if let Some(external_id) = external_id {
            pending_external.insert(external_id, index);
        }
        if let Some(key) = key {
            pending_key.insert(key, index);
        }
        batch.outcomes[index] = Outcome::Created(id_of(&new));
        inserts.push(new);
    }
    (inserts, updates)
}

/// `noun` with its indefinite article.
fn a(noun: &str) -> String {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}
