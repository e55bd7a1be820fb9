//! The SQL of every [`Store`](crate::Store) method, written once and
//! compiled for each backend by [`impl_store!`]. Both dialects accept `$n`
//! placeholders, `on conflict` and `returning`; ids bind as UUIDs and times
//! as `DateTime<Utc>` on both.

/// A row that names its record, for [`lock_rows`](impl_store) to tell the ids it found.
pub(crate) trait HasId {
    fn id(&self) -> uuid::Uuid;
}

macro_rules! impl_store {
    ($store:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            #[tracing::instrument(skip_all)]
            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("select 1").execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn setting_or_insert(&self, key: &str, value: &str, now: DateTime<Utc>) -> $crate::Result<String> {
                sqlx::query("insert into settings (key, value, created_at) values ($1, $2, $3) on conflict (key) do nothing")
                    .bind(key)
                    .bind(value)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar("select value from settings where key = $1").bind(key).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_organization(&self, org: &Organization, admin: &NewUser, now: DateTime<Utc>) -> $crate::Result<User> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "insert into organizations (id, name, base_currency, timezone, mql_threshold, version, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, 1, $6, $6)",
                )
                .bind(org.id)
                .bind(org.name.as_str())
                .bind(org.base_currency.as_str())
                .bind(org.timezone.name())
                .bind(i64::from(org.mql_threshold.value()))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let user = insert_user(&mut tx, org.id, admin, now).await?;
                let default_name = pipewise_domain::Name::parse("Sales").expect("a valid name");
                insert_pipeline(&mut tx, org.id, &default_name, &pipewise_domain::pipeline::default_stages(), now).await?;
                tx.commit().await?;
                Ok(user)
            }

            #[tracing::instrument(skip_all)]
            async fn organization(&self, org: Uuid) -> $crate::Result<Organization> {
                sqlx::query_as::<_, OrganizationRow>("select * from organizations where id = $1")
                    .bind(org)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            #[tracing::instrument(skip_all)]
            async fn update_organization(
                &self,
                org: Uuid,
                changes: &OrganizationChanges,
                if_version: Option<i64>,
                now: DateTime<Utc>,
            ) -> $crate::Result<Organization> {
                let mut tx = self.begin_write().await?;
                let sql = format!("select * from organizations where id = $1 {}", Self::FOR_UPDATE);
                let current: Organization = sqlx::query_as::<_, OrganizationRow>(&sql)
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let name = changes.name.as_ref().unwrap_or(&current.name);
                let unchanged = *name == current.name
                    && changes.base_currency.is_none_or(|c| c == current.base_currency)
                    && changes.timezone.is_none_or(|t| t == current.timezone)
                    && changes.mql_threshold.is_none_or(|m| m == current.mql_threshold);
                // A write that changes nothing changes nothing: the version stays.
                if unchanged {
                    tx.commit().await?;
                    return Ok(current);
                }
                let updated = sqlx::query_as::<_, OrganizationRow>(
                    "update organizations
                     set name = $2, base_currency = $3, timezone = $4, mql_threshold = $5,
                         version = version + 1, updated_at = $6
                     where id = $1 and version = $7
                     returning *",
                )
                .bind(org)
                .bind(changes.name.as_ref().unwrap_or(&current.name).as_str())
                .bind(changes.base_currency.unwrap_or(current.base_currency).as_str())
                .bind(changes.timezone.unwrap_or(current.timezone).name())
                .bind(i64::from(changes.mql_threshold.unwrap_or(current.mql_threshold).value()))
                .bind(now)
                .bind(current.version)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::VersionMismatch)?;
                tx.commit().await?;
                updated.try_into()
            }

            #[tracing::instrument(skip_all)]
            async fn credentials(&self, email: &str) -> $crate::Result<Option<Credentials>> {
                let row = sqlx::query_as::<_, CredentialsRow>("select * from users where email = $1")
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| Ok(Credentials { user: r.user.try_into()?, password_hash: r.password_hash })).transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn user_for_auth(&self, id: Uuid) -> $crate::Result<Option<User>> {
                sqlx::query_as::<_, UserRow>("select * from users where id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn user(&self, org: Uuid, id: Uuid) -> $crate::Result<User> {
                sqlx::query_as::<_, UserRow>("select * from users where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            #[tracing::instrument(skip_all)]
            async fn users(&self, org: Uuid, page: Page) -> $crate::Result<Vec<User>> {
                sqlx::query_as::<_, UserRow>(
                    "select * from users where organization_id = $1 and ($2 is null or id > $2) order by id limit $3",
                )
                .bind(org)
                .bind(page.after)
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn create_user(&self, org: Uuid, user: &NewUser, actor: Actor, now: DateTime<Utc>) -> $crate::Result<User> {
                let mut tx = self.begin_write().await?;
                let created = insert_user(&mut tx, org, user, now).await?;
                audit(&mut tx, org, actor, "user.created", Some(created.id), now).await?;
                tx.commit().await?;
                Ok(created)
            }

            #[tracing::instrument(skip_all)]
            async fn update_user(
                &self,
                org: Uuid,
                id: Uuid,
                changes: &UserChanges,
                if_version: Option<i64>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<User> {
                let mut tx = self.begin_write().await?;
                let sql = format!("select * from users where organization_id = $1 and id = $2 {}", Self::FOR_UPDATE);
                let current: User = sqlx::query_as::<_, UserRow>(&sql)
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()?;
                if if_version.is_some_and(|v| v != current.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let role = changes.role.unwrap_or(current.role);
                let active = changes.active.unwrap_or(current.active);
                let unchanged = changes.name.as_ref().is_none_or(|n| *n == current.name)
                    && role == current.role
                    && active == current.active
                    && changes.password_hash.is_none();
                // A write that changes nothing changes nothing: the version stays.
                if unchanged {
                    tx.commit().await?;
                    return Ok(current);
                }
                let loses_admin = current.role == Role::Admin && current.active && (role != Role::Admin || !active);
                if loses_admin {
                    let other_admins: i64 = sqlx::query_scalar(
                        "select count(*) from users
                         where organization_id = $1 and id <> $2 and role = 'admin' and active = $3",
                    )
                    .bind(org)
                    .bind(id)
                    .bind(true)
                    .fetch_one(&mut *tx)
                    .await?;
                    if other_admins == 0 {
                        return Err(StoreError::Conflict("an organization keeps at least one active admin"));
                    }
                }
                let ends_sessions = changes.password_hash.is_some() || (current.active && !active);
                let updated: User = sqlx::query_as::<_, UserRow>(
                    "update users
                     set name = $3, role = $4, active = $5,
                         password_hash = coalesce($6, password_hash),
                         token_version = token_version + $7,
                         tokens_valid_after = case when $7 = 1 then $8 else tokens_valid_after end,
                         version = version + 1, updated_at = $8
                     where organization_id = $1 and id = $2
                     returning *",
                )
                .bind(org)
                .bind(id)
                .bind(changes.name.as_ref().unwrap_or(&current.name).as_str())
                .bind(role.as_str())
                .bind(active)
                .bind(changes.password_hash.as_deref())
                .bind(i64::from(ends_sessions))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_into()?;
                if ends_sessions {
                    revoke_user_refresh_tokens(&mut tx, id, now).await?;
                }
                audit(&mut tx, org, actor, "user.updated", Some(id), now).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all)]
            async fn end_all_sessions(&self, user: Uuid, now: DateTime<Utc>) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "update users set token_version = token_version + 1, tokens_valid_after = $2, updated_at = $2
                     where id = $1",
                )
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                revoke_user_refresh_tokens(&mut tx, user, now).await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn insert_refresh_token(&self, token: &NewRefreshToken, now: DateTime<Utc>) -> $crate::Result<()> {
                sqlx::query(
                    "insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at, created_at)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(Uuid::now_v7())
                .bind(token.family_id)
                .bind(token.user_id)
                .bind(&token.token_hash)
                .bind(token.expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn rotate_refresh_token(
                &self,
                presented_hash: &str,
                next_hash: &str,
                next_expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> $crate::Result<Rotation> {
                let mut tx = self.begin_write().await?;
                let Some(token) = sqlx::query_as::<_, RefreshTokenRow>(
                    "select id, family_id, user_id, expires_at, used_at, revoked_at from refresh_tokens where token_hash = $1",
                )
                .bind(presented_hash)
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(Rotation::Invalid);
                };
                if token.used_at.is_some() || token.revoked_at.is_some() {
                    sqlx::query("update refresh_tokens set revoked_at = $2 where family_id = $1 and revoked_at is null")
                        .bind(token.family_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(Rotation::Reused);
                }
                let user: Option<User> = sqlx::query_as::<_, UserRow>("select * from users where id = $1")
                    .bind(token.user_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()?;
                let Some(user) = user.filter(|u| u.active && token.expires_at > now) else {
                    return Ok(Rotation::Invalid);
                };
                // The version predicate makes a concurrent second use of the same
                // token lose here, even where the backend allowed both reads.
                let spent = sqlx::query("update refresh_tokens set used_at = $2 where id = $1 and used_at is null")
                    .bind(token.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if spent != 1 {
                    return Ok(Rotation::Reused);
                }
                sqlx::query(
                    "insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at, created_at)
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(Uuid::now_v7())
                .bind(token.family_id)
                .bind(token.user_id)
                .bind(next_hash)
                .bind(next_expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Rotation::Rotated(user))
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_refresh_family(&self, token_hash: &str, now: DateTime<Utc>) -> $crate::Result<bool> {
                let revoked = sqlx::query(
                    "update refresh_tokens set revoked_at = $2
                     where revoked_at is null and family_id in
                         (select family_id from refresh_tokens where token_hash = $1)",
                )
                .bind(token_hash)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(revoked > 0)
            }

            #[tracing::instrument(skip_all)]
            async fn count_login_attempt(
                &self,
                key: &str,
                window_start: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> $crate::Result<(i64, DateTime<Utc>)> {
                // One upsert that increments and returns the count, taken before the
                // password is checked: N parallel attempts get N distinct counts, so no
                // more than the limit are ever verified, whatever the number of processes.
                Ok(sqlx::query_as::<_, (i64, DateTime<Utc>)>(
                    "insert into login_failures (key, window_started_at, failures, updated_at) values ($1, $3, 1, $3)
                     on conflict (key) do update set
                         failures = case when login_failures.window_started_at > $2 then login_failures.failures + 1 else 1 end,
                         window_started_at = case when login_failures.window_started_at > $2
                                                  then login_failures.window_started_at else $3 end,
                         updated_at = $3
                     returning failures, window_started_at",
                )
                .bind(key)
                .bind(window_start)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all)]
            async fn refund_login_attempt(&self, key: &str) -> $crate::Result<()> {
                sqlx::query("update login_failures set failures = failures - 1 where key = $1 and failures > 0")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn clear_login_failures(&self, key: &str) -> $crate::Result<()> {
                sqlx::query("delete from login_failures where key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_api_key(&self, org: Uuid, key: &NewApiKey, actor: Actor, now: DateTime<Utc>) -> $crate::Result<ApiKey> {
                let mut tx = self.begin_write().await?;
                let created: ApiKey = sqlx::query_as::<_, ApiKeyRow>(
                    "insert into api_keys (id, organization_id, name, prefix, key_hash, scopes, created_by, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                     returning *",
                )
                .bind(Uuid::now_v7())
                .bind(org)
                .bind(key.name.as_str())
                .bind(&key.prefix)
                .bind(&key.key_hash)
                .bind(Scope::join(&key.scopes))
                .bind(key.created_by)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_into()?;
                audit(&mut tx, org, actor, "api_key.created", Some(created.id), now).await?;
                tx.commit().await?;
                Ok(created)
            }

            #[tracing::instrument(skip_all)]
            async fn api_keys(&self, org: Uuid, page: Page) -> $crate::Result<Vec<ApiKey>> {
                sqlx::query_as::<_, ApiKeyRow>(
                    "select * from api_keys where organization_id = $1 and ($2 is null or id > $2) order by id limit $3",
                )
                .bind(org)
                .bind(page.after)
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn api_key(&self, org: Uuid, id: Uuid) -> $crate::Result<ApiKey> {
                sqlx::query_as::<_, ApiKeyRow>("select * from api_keys where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_api_key(&self, org: Uuid, id: Uuid, actor: Actor, now: DateTime<Utc>) -> $crate::Result<ApiKey> {
                let mut tx = self.begin_write().await?;
                let revoked: ApiKey = sqlx::query_as::<_, ApiKeyRow>(
                    "update api_keys set revoked_at = coalesce(revoked_at, $3), updated_at = $3
                     where organization_id = $1 and id = $2
                     returning *",
                )
                .bind(org)
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?
                .try_into()?;
                audit(&mut tx, org, actor, "api_key.revoked", Some(id), now).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            #[tracing::instrument(skip_all)]
            async fn api_key_by_hash(&self, key_hash: &str) -> $crate::Result<Option<ApiKey>> {
                sqlx::query_as::<_, ApiKeyRow>("select * from api_keys where key_hash = $1 and revoked_at is null")
                    .bind(key_hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            #[tracing::instrument(skip_all)]
            async fn touch_api_key(&self, id: Uuid, now: DateTime<Utc>) -> $crate::Result<()> {
                sqlx::query(
                    "update api_keys set last_used_at = $2
                     where id = $1 and (last_used_at is null or last_used_at < $3)",
                )
                .bind(id)
                .bind(now)
                .bind(now - chrono::Duration::minutes(1))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn exchange_rates(&self, org: Uuid) -> $crate::Result<Vec<(Currency, ExchangeRate, DateTime<Utc>)>> {
                sqlx::query_as::<_, ExchangeRateRow>(
                    "select currency, rate, updated_at from exchange_rates where organization_id = $1 order by currency",
                )
                .bind(org)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| {
                    let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("exchange rate {}: {e}", row.currency));
                    Ok((
                        Currency::parse(&row.currency).map_err(|e| bad(&e))?,
                        ExchangeRate::parse(&row.rate).map_err(|e| bad(&e))?,
                        row.updated_at,
                    ))
                })
                .collect()
            }

            #[tracing::instrument(skip_all)]
            async fn put_exchange_rate(
                &self,
                org: Uuid,
                currency: Currency,
                rate: ExchangeRate,
                now: DateTime<Utc>,
            ) -> $crate::Result<DateTime<Utc>> {
                sqlx::query(
                    "insert into exchange_rates (organization_id, currency, rate, created_at, updated_at)
                     values ($1, $2, $3, $4, $4)
                     on conflict (organization_id, currency) do update set rate = $3, updated_at = $4",
                )
                .bind(org)
                .bind(currency.as_str())
                .bind(rate.value().to_string())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(now)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_exchange_rate(&self, org: Uuid, currency: Currency) -> $crate::Result<()> {
                let deleted = sqlx::query("delete from exchange_rates where organization_id = $1 and currency = $2")
                    .bind(org)
                    .bind(currency.as_str())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }
        }

        async fn insert_user(
            tx: &mut Tx,
            org: Uuid,
            user: &NewUser,
            now: DateTime<Utc>,
        ) -> $crate::Result<User> {
            sqlx::query_as::<_, UserRow>(
                "insert into users (id, organization_id, email, name, role, password_hash, active, token_version,
                                    tokens_valid_after, version, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, 0, $8, 1, $8, $8)
                 returning *",
            )
            .bind(Uuid::now_v7())
            .bind(org)
            .bind(user.email.as_str())
            .bind(user.name.as_str())
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(true)
            .bind(now)
            .fetch_one(&mut **tx)
            .await
            .map_err(StoreError::unique("a user with this email already exists"))?
            .try_into()
        }

        async fn revoke_user_refresh_tokens(tx: &mut Tx, user: Uuid, now: DateTime<Utc>) -> $crate::Result<()> {
            sqlx::query("update refresh_tokens set revoked_at = $2 where user_id = $1 and revoked_at is null")
                .bind(user)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// The rows `ids` of `table` in `org` that match `filter`, each locked
        /// as [`lock_row`] locks one, in id order (two bulk actions over the
        /// same rows queue up instead of deadlocking); `Missing` names every
        /// id without such a row. A statement locks a thousand rows: the
        /// rows of `select … order by id for update` are locked in the order
        /// the sort returns them, and the chunks follow each other in order.
        async fn lock_rows<R>(tx: &mut Tx, table: &str, org: Uuid, ids: &[Uuid], filter: &str) -> $crate::Result<Vec<R>>
        where
            R: for<'r> sqlx::FromRow<'r, DbRow> + Send + Unpin + $crate::queries::HasId,
        {
            let ids = $crate::bulk_edit::lock_order(ids);
            let mut rows: Vec<R> = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(1000) {
                let mut qb = sqlx::QueryBuilder::new(format!("select * from {table} where organization_id = "));
                qb.push_bind(org).push(format!(" and ({filter}) and id in ("));
                let mut list = qb.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                qb.push(format!(") order by id {}", <$store>::FOR_UPDATE));
                rows.extend(qb.build_query_as::<R>().fetch_all(&mut **tx).await?);
            }
            let found: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.id()).collect();
            let missing: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains(id)).collect();
            if missing.is_empty() {
                Ok(rows)
            } else {
                Err(StoreError::Missing(missing))
            }
        }

        async fn audit(
            tx: &mut Tx,
            org: Uuid,
            actor: Actor,
            action: &str,
            target: Option<Uuid>,
            now: DateTime<Utc>,
        ) -> $crate::Result<()> {
            let (user, key, form) = actor.ids();
            sqlx::query(
                "insert into audit_log (id, organization_id, actor_user_id, actor_api_key_id, actor_form_id, action,
                                        target_id, created_at, request_id)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(Uuid::now_v7())
            .bind(org)
            .bind(user)
            .bind(key)
            .bind(form)
            .bind(action)
            .bind(target)
            .bind(now)
            .bind($crate::events::request_id())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use impl_store;
