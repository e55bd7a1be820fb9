//! Customers and what acquiring them cost (metrics.md, "Customers and
//! acquisition"): won deals summed per account, what each source cost per
//! month, and per source the leads, first wins and won amounts of a period.
//! Sums stay per currency: the API converts them with the organization's
//! rates, as every report does.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{
    potential::{Customer, EmployeeBand, LookAlikes, Potential, Profile},
    Amount, Country, Currency, Lead,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::{Result, StoreError};

/// What an account's won deals in one window and currency add up to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccountSpend {
    /// 0 for deals closed before the split instant, 1 from it on.
    pub bucket: i64,
    pub account_id: Uuid,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub country: Option<String>,
    pub currency: String,
    pub deals: i64,
    pub minor: i64,
}

/// How many leads of one source share one profile (industry, employee
/// band, country): the leads report adds up their look-alike potential.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LeadProfileCount {
    pub source: Option<String>,
    pub industry: Option<String>,
    /// As `EmployeeBand::as_str`; '' without a head count.
    pub band: String,
    pub country: Option<String>,
    pub n: i64,
}

impl LeadProfileCount {
    /// What these leads are compared with customers by.
    pub fn profile(&self) -> Profile {
        Profile {
            industry: self.industry.clone(),
            band: EmployeeBand::parse(&self.band),
            country: self.country.as_deref().and_then(|c| Country::parse(c).ok()),
        }
    }
}

/// What each account spent in one bucket of [`AccountSpend`] rows, in the
/// base currency.
#[derive(Debug, Default)]
pub struct AccountSpends {
    /// Every account with a won deal in the bucket: what it is compared by,
    /// and its spend (`None` when none of its deals has a rate).
    pub by_account: HashMap<Uuid, (Profile, Option<Decimal>)>,
    /// Won deals left out of the spends: no rate for their currency.
    pub unconverted_deals: u64,
}

impl AccountSpends {
    /// The rows of `bucket`, converted with `rate` (`None`: no rate).
    pub fn of(rows: &[AccountSpend], bucket: i64, rate: impl Fn(&str) -> Option<Decimal>) -> Self {
        let mut spends = AccountSpends::default();
        for row in rows.iter().filter(|r| r.bucket == bucket) {
            let (_, spend) = spends.by_account.entry(row.account_id).or_insert_with(|| {
                let profile = Profile {
                    industry: row.industry.clone(),
                    band: row.employee_count.and_then(EmployeeBand::of),
                    country: row.country.as_deref().and_then(|c| Country::parse(c).ok()),
                };
                (profile, None)
            });
            match rate(&row.currency) {
                Some(rate) => *spend = Some(spend.unwrap_or_default() + Decimal::new(row.minor, 2) * rate),
                None => spends.unconverted_deals += u64::try_from(row.deals).unwrap_or(0),
            }
        }
        spends
    }

    /// The accounts whose spend converted, grouped for estimates.
    pub fn look_alikes(&self) -> LookAlikes {
        let customers: Vec<Customer> = self
            .by_account
            .values()
            .filter_map(|(profile, spend)| {
                Some(Customer {
                    profile: profile.clone(),
                    yearly_spend: (*spend)?,
                })
            })
            .collect();
        LookAlikes::new(&customers)
    }
}

/// The organization's customers in the year before an instant, grouped
/// for look-alike estimates.
#[derive(Debug, Clone)]
pub struct CustomerYear {
    pub look_alikes: LookAlikes,
    /// The base currency every estimate is in.
    pub currency: String,
    /// Won deals of the year left out: no rate for their currency.
    pub unconverted_deals: u64,
}

impl CustomerYear {
    /// The look-alike estimate for `lead`; `None` without customers.
    pub fn potential(&self, lead: &Lead) -> Option<Potential> {
        self.look_alikes.potential(&Profile::of(lead))
    }
}

/// What a lead source cost in a calendar month.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpend {
    pub source: String,
    /// `YYYY-MM`.
    pub month: String,
    pub amount: Amount,
    pub currency: Currency,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One source's figures over a period, money per currency.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SourceFigure {
    /// `leads`, `new_customers` or `won`.
    pub figure: String,
    /// `None`: no source.
    pub source: Option<String>,
    pub currency: String,
    pub n: i64,
    pub minor: i64,
}

#[async_trait]
pub trait CustomerStore {
    /// The accounts with a deal won in the 365 days before `as_of`, and
    /// what each spent then in the base currency (an account whose deals
    /// all lack a rate is left out).
    async fn customer_year(&self, org: Uuid, as_of: DateTime<Utc>) -> Result<CustomerYear>;
    /// Per account and currency, the live won deals of live accounts with
    /// `closed_at` in [from, to), windowed by `split`.
    async fn account_spend(
        &self,
        org: Uuid,
        from: DateTime<Utc>,
        split: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AccountSpend>>;
    /// Per source, over [from, to): leads created, accounts won for the
    /// first time ever (by the source of that first deal), won deals; a
    /// deal's source is its own, else its lead's.
    async fn source_figures(&self, org: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<SourceFigure>>;
    /// The live leads created in [from, to) (of `owner`, of `source`, when
    /// given), counted by source and profile.
    async fn lead_profiles(
        &self,
        org: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        owner: Option<Uuid>,
        source: Option<&str>,
    ) -> Result<Vec<LeadProfileCount>>;
    /// Every spend entry of months `from_month`..=`to_month` (`YYYY-MM`), by source and month.
    async fn source_spends(&self, org: Uuid, from_month: &str, to_month: &str) -> Result<Vec<SourceSpend>>;
    async fn source_spend(&self, org: Uuid, source: &str, month: &str) -> Result<SourceSpend>;
    /// Creates or replaces an entry; `true` when it was created.
    async fn put_source_spend(
        &self,
        org: Uuid,
        source: &str,
        month: &str,
        amount: Amount,
        currency: &Currency,
        now: DateTime<Utc>,
    ) -> Result<(SourceSpend, bool)>;
    async fn delete_source_spend(&self, org: Uuid, source: &str, month: &str) -> Result<()>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct SourceSpendRow {
    source: String,
    month: String,
    amount_minor: i64,
    currency: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<SourceSpendRow> for SourceSpend {
    type Error = StoreError;

    fn try_from(r: SourceSpendRow) -> Result<Self> {
        Ok(SourceSpend {
            amount: Amount::from_minor(r.amount_minor)
                .ok_or_else(|| StoreError::Corrupt(format!("a spend amount: {}", r.amount_minor)))?,
            currency: Currency::parse(&r.currency)
                .map_err(|e| StoreError::Corrupt(format!("a spend currency: {e}")))?,
            source: r.source,
            month: r.month,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The columns of a [`SourceSpendRow`].
pub(crate) const SPEND_COLUMNS: &str = "source, month, amount_minor, currency, created_at, updated_at";

pub(crate) const ACCOUNT_SPEND_SQL: &str =
    "select cast(case when d.closed_at < $3 then 0 else 1 end as bigint) as bucket,
            a.id as account_id, a.industry, a.employee_count, a.country, d.currency,
            count(*) as deals, cast(sum(d.amount_minor) as bigint) as minor
     from deals d
     join accounts a on a.id = d.account_id and a.organization_id = d.organization_id and a.deleted_at is null
     where d.organization_id = $1 and d.status = 'won' and d.deleted_at is null
       and d.closed_at >= $2 and d.closed_at < $4
     group by case when d.closed_at < $3 then 0 else 1 end, a.id, a.industry, a.employee_count, a.country, d.currency";

pub(crate) fn lead_profiles_sql() -> String {
    let band = crate::prediction::column_value(pipewise_domain::prediction::Field::EmployeeBand);
    format!(
        "select source, industry, {band} as band, country, count(*) as n
         from leads
         where organization_id = $1 and deleted_at is null and created_at >= $2 and created_at < $3
           and ($4 is null or owner_id = $4) and ($5 is null or source = $5)
         group by source, industry, {band}, country"
    )
}

/// A deal's source: its own, else that of the lead it was converted from.
const DEAL_SOURCE: &str = "coalesce(d.source, (select l.source from leads l
     where l.converted_deal_id = d.id and l.organization_id = d.organization_id))";

pub(crate) fn source_figures_sql() -> String {
    format!(
        "select 'leads' as figure, source, '' as currency, count(*) as n, cast(0 as bigint) as minor
         from leads
         where organization_id = $1 and deleted_at is null and created_at >= $2 and created_at < $3
         group by source
         union all
         select 'won', {DEAL_SOURCE}, d.currency, count(*), cast(sum(d.amount_minor) as bigint)
         from deals d
         where d.organization_id = $1 and d.status = 'won' and d.deleted_at is null
           and d.closed_at >= $2 and d.closed_at < $3
         group by 2, d.currency
         union all
         select 'new_customers', {DEAL_SOURCE}, '', count(*), cast(0 as bigint)
         from deals d
         where d.organization_id = $1 and d.status = 'won' and d.deleted_at is null and d.account_id is not null
           and d.closed_at >= $2 and d.closed_at < $3
           and not exists (select 1 from deals e
               where e.organization_id = d.organization_id and e.account_id = d.account_id
                 and e.status = 'won' and e.deleted_at is null
                 and (e.closed_at < d.closed_at or (e.closed_at = d.closed_at and e.id < d.id)))
         group by 2"
    )
}

/// Implements [`CustomerStore`].
macro_rules! impl_customer_store {
    ($store:ty) => {
        mod customer_store {
            use super::*;
            use ::chrono::{DateTime, Utc};
            use ::pipewise_domain::{Amount, Currency};
            use ::uuid::Uuid;
            use $crate::customers::{
                lead_profiles_sql, source_figures_sql, AccountSpend, AccountSpends, CustomerYear, LeadProfileCount,
                SourceFigure, SourceSpend, SourceSpendRow, ACCOUNT_SPEND_SQL, SPEND_COLUMNS,
            };
            use $crate::StoreError;

            /// [`CustomerStore::customer_year`] on a connection: a rule on
            /// `potential` scores leads with it inside their write transaction.
            pub(crate) async fn customer_year(
                conn: &mut super::Conn,
                org: Uuid,
                as_of: DateTime<Utc>,
            ) -> $crate::Result<CustomerYear> {
                let from = as_of - ::chrono::Duration::days(::pipewise_domain::potential::CUSTOMER_WINDOW_DAYS);
                let rows = sqlx::query_as::<_, AccountSpend>(ACCOUNT_SPEND_SQL)
                    .bind(org)
                    .bind(from)
                    .bind(from)
                    .bind(as_of)
                    .fetch_all(&mut *conn)
                    .await?;
                let base: String = sqlx::query_scalar("select base_currency from organizations where id = $1")
                    .bind(org)
                    .fetch_one(&mut *conn)
                    .await?;
                let mut rates = Vec::new();
                for row in sqlx::query_as::<_, $crate::rows::ExchangeRateRow>(
                    "select currency, rate, updated_at from exchange_rates where organization_id = $1",
                )
                .bind(org)
                .fetch_all(&mut *conn)
                .await?
                {
                    let rate = ::pipewise_domain::ExchangeRate::parse(&row.rate)
                        .map_err(|e| StoreError::Corrupt(format!("exchange rate {}: {e}", row.currency)))?;
                    rates.push((row.currency, rate.value()));
                }
                let rate = |currency: &str| {
                    if currency == base {
                        return Some(::rust_decimal::Decimal::ONE);
                    }
                    rates.iter().find(|(c, _)| c == currency).map(|(_, r)| *r)
                };
                let spends = AccountSpends::of(&rows, 1, rate);
                Ok(CustomerYear {
                    look_alikes: spends.look_alikes(),
                    currency: base,
                    unconverted_deals: spends.unconverted_deals,
                })
            }

            #[async_trait::async_trait]
            impl $crate::customers::CustomerStore for $store {
                #[tracing::instrument(skip_all)]
                async fn customer_year(&self, org: Uuid, as_of: DateTime<Utc>) -> $crate::Result<CustomerYear> {
                    let mut conn = self.pool.acquire().await?;
                    customer_year(&mut conn, org, as_of).await
                }

                #[tracing::instrument(skip_all)]
                async fn account_spend(
                    &self,
                    org: Uuid,
                    from: DateTime<Utc>,
                    split: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> $crate::Result<Vec<AccountSpend>> {
                    Ok(sqlx::query_as::<_, AccountSpend>(ACCOUNT_SPEND_SQL)
                        .bind(org)
                        .bind(from)
                        .bind(split)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn source_figures(
                    &self,
                    org: Uuid,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                ) -> $crate::Result<Vec<SourceFigure>> {
                    Ok(sqlx::query_as::<_, SourceFigure>(&source_figures_sql())
                        .bind(org)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn lead_profiles(
                    &self,
                    org: Uuid,
                    from: DateTime<Utc>,
                    to: DateTime<Utc>,
                    owner: Option<Uuid>,
                    source: Option<&str>,
                ) -> $crate::Result<Vec<LeadProfileCount>> {
                    Ok(sqlx::query_as::<_, LeadProfileCount>(&lead_profiles_sql())
                        .bind(org)
                        .bind(from)
                        .bind(to)
                        .bind(owner)
                        .bind(source)
                        .fetch_all(&self.pool)
                        .await?)
                }

                #[tracing::instrument(skip_all)]
                async fn source_spends(
                    &self,
                    org: Uuid,
                    from_month: &str,
                    to_month: &str,
                ) -> $crate::Result<Vec<SourceSpend>> {
                    sqlx::query_as::<_, SourceSpendRow>(&format!(
                        "select {SPEND_COLUMNS} from source_spend
                         where organization_id = $1 and month >= $2 and month <= $3 order by source, month"
                    ))
                    .bind(org)
                    .bind(from_month)
                    .bind(to_month)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
                }

                #[tracing::instrument(skip_all)]
                async fn source_spend(&self, org: Uuid, source: &str, month: &str) -> $crate::Result<SourceSpend> {
                    sqlx::query_as::<_, SourceSpendRow>(&format!(
                        "select {SPEND_COLUMNS} from source_spend
                         where organization_id = $1 and source = $2 and month = $3"
                    ))
                    .bind(org)
                    .bind(source)
                    .bind(month)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
                }

                #[tracing::instrument(skip_all)]
                async fn put_source_spend(
                    &self,
                    org: Uuid,
                    source: &str,
                    month: &str,
                    amount: Amount,
                    currency: &Currency,
                    now: DateTime<Utc>,
                ) -> $crate::Result<(SourceSpend, bool)> {
                    // One statement: parallel PUTs of one month leave one entry, the last one.
                    let row = sqlx::query_as::<_, SourceSpendRow>(&format!(
                        "insert into source_spend (organization_id, {SPEND_COLUMNS})
                         values ($1, $2, $3, $4, $5, $6, $6)
                         on conflict (organization_id, source, month) do update
                         set amount_minor = excluded.amount_minor, currency = excluded.currency,
                             updated_at = excluded.updated_at
                         returning {SPEND_COLUMNS}"
                    ))
                    .bind(org)
                    .bind(source)
                    .bind(month)
                    .bind(amount.minor())
                    .bind(currency.as_str())
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                    let spend: SourceSpend = row.try_into()?;
                    // A replaced entry keeps its creation time; only a new one has both the same.
                    let created = spend.created_at == spend.updated_at;
                    Ok((spend, created))
                }

                #[tracing::instrument(skip_all)]
                async fn delete_source_spend(&self, org: Uuid, source: &str, month: &str) -> $crate::Result<()> {
                    let deleted = sqlx::query(
                        "delete from source_spend where organization_id = $1 and source = $2 and month = $3",
                    )
                    .bind(org)
                    .bind(source)
                    .bind(month)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_customer_store;
