//! Pipelines and their ordered stages. A pipeline is one aggregate: every
//! stage change bumps the pipeline's `version`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pipewise_domain::{Name, NewStage, Pipeline, StageChanges};
use uuid::Uuid;

use crate::{Actor, Page, Result};

#[async_trait]
pub trait PipelineStore {
    async fn create_pipeline(
        &self,
        org: Uuid,
        name: &Name,
        stages: &[NewStage],
        now: DateTime<Utc>,
    ) -> Result<Pipeline>;
    async fn pipelines(&self, org: Uuid, page: Page) -> Result<Vec<Pipeline>>;
    async fn pipeline(&self, org: Uuid, id: Uuid) -> Result<Pipeline>;
    async fn rename_pipeline(
        &self,
        org: Uuid,
        id: Uuid,
        name: &Name,
        if_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Pipeline>;
    /// Conflict while any deal (even trashed) is in the pipeline.
    async fn delete_pipeline(&self, org: Uuid, id: Uuid, if_version: Option<i64>) -> Result<()>;
    /// Appends a stage; returns the pipeline and the new stage's id.
    async fn add_stage(
        &self,
        org: Uuid,
        pipeline: Uuid,
        stage: &NewStage,
        now: DateTime<Utc>,
    ) -> Result<(Pipeline, Uuid)>;
    /// Changes a stage; `if_version` is its pipeline's (a stage is versioned
    /// with the pipeline it belongs to).
    async fn update_stage(
        &self,
        org: Uuid,
        stage: Uuid,
        changes: &StageChanges,
        if_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Pipeline>;
    /// Deletes a stage. Its deals (open or closed) block it unless `move_to`
    /// names another stage of the pipeline: then each moves there, with an event.
    async fn delete_stage(
        &self,
        org: Uuid,
        stage: Uuid,
        move_to: Option<Uuid>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Pipeline>;
    /// Sets the stage order; `order` must name every stage of the pipeline once.
    async fn reorder_stages(
        &self,
        org: Uuid,
        pipeline: Uuid,
        order: &[Uuid],
        if_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Pipeline>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct PipelineRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct StageRow {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: String,
    pub position: i64,
    pub probability: i64,
    pub rotting_days: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn assemble(row: PipelineRow, stages: Vec<StageRow>) -> Result<Pipeline> {
    use pipewise_domain::{Probability, RottingDays, Stage};
    let bad = |e: &dyn std::fmt::Display| crate::StoreError::Corrupt(format!("pipeline {}: {e}", row.id));
    let stages = stages
        .into_iter()
        .map(|s| {
            Ok(Stage {
                id: s.id,
                pipeline_id: s.pipeline_id,
                name: Name::parse(&s.name).map_err(|e| bad(&e))?,
                position: s.position,
                probability: Probability::new(s.probability).map_err(|e| bad(&e))?,
                rotting_days: s.rotting_days.map(RottingDays::new).transpose().map_err(|e| bad(&e))?,
                created_at: s.created_at,
                updated_at: s.updated_at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Pipeline {
        id: row.id,
        organization_id: row.organization_id,
        name: Name::parse(&row.name).map_err(|e| bad(&e))?,
        stages,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

macro_rules! impl_pipeline_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::pipelines::PipelineStore for $store {
            #[tracing::instrument(skip_all)]
            async fn create_pipeline(
                &self,
                org: Uuid,
                name: &pipewise_domain::Name,
                stages: &[pipewise_domain::NewStage],
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut tx = self.begin_write().await?;
                let id = insert_pipeline(&mut tx, org, name, stages, now).await?;
                let pipeline = load_pipeline(&mut tx, org, id).await?;
                tx.commit().await?;
                Ok(pipeline)
            }

            #[tracing::instrument(skip_all)]
            async fn pipelines(&self, org: Uuid, page: $crate::Page) -> $crate::Result<Vec<pipewise_domain::Pipeline>> {
                let rows = sqlx::query_as::<_, $crate::pipelines::PipelineRow>(
                    "select * from pipelines where organization_id = $1 and ($2 is null or id > $2) order by id limit $3",
                )
                .bind(org)
                .bind(page.after)
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let stages = sqlx::query_as::<_, $crate::pipelines::StageRow>(
                        "select * from stages where pipeline_id = $1 order by position",
                    )
                    .bind(row.id)
                    .fetch_all(&self.pool)
                    .await?;
                    out.push($crate::pipelines::assemble(row, stages)?);
                }
                Ok(out)
            }

            #[tracing::instrument(skip_all)]
            async fn pipeline(&self, org: Uuid, id: Uuid) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut conn = self.pool.acquire().await?;
                load_pipeline(&mut conn, org, id).await
            }

            #[tracing::instrument(skip_all)]
            async fn rename_pipeline(
                &self,
                org: Uuid,
                id: Uuid,
                name: &pipewise_domain::Name,
                if_version: Option<i64>,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut tx = self.begin_write().await?;
                lock_pipeline(&mut tx, org, id, if_version).await?;
                sqlx::query("update pipelines set name = $3, version = version + 1, updated_at = $4 where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .bind(name.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let pipeline = load_pipeline(&mut tx, org, id).await?;
                tx.commit().await?;
                Ok(pipeline)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_pipeline(&self, org: Uuid, id: Uuid, if_version: Option<i64>) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                lock_pipeline(&mut tx, org, id, if_version).await?;
                let deals: i64 = sqlx::query_scalar("select count(*) from deals where pipeline_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                if deals > 0 {
                    return Err(StoreError::Conflict("the pipeline still holds deals; move or purge them first"));
                }
                sqlx::query("delete from stages where pipeline_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("delete from pipelines where id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn add_stage(
                &self,
                org: Uuid,
                pipeline: Uuid,
                stage: &pipewise_domain::NewStage,
                now: DateTime<Utc>,
            ) -> $crate::Result<(pipewise_domain::Pipeline, Uuid)> {
                let mut tx = self.begin_write().await?;
                lock_pipeline(&mut tx, org, pipeline, None).await?;
                let next: i64 = sqlx::query_scalar("select coalesce(max(position) + 1, 0) from stages where pipeline_id = $1")
                    .bind(pipeline)
                    .fetch_one(&mut *tx)
                    .await?;
                let id = insert_stage(&mut tx, org, pipeline, stage, next, now).await?;
                touch_pipeline(&mut tx, pipeline, now).await?;
                let loaded = load_pipeline(&mut tx, org, pipeline).await?;
                tx.commit().await?;
                Ok((loaded, id))
            }

            #[tracing::instrument(skip_all)]
            async fn update_stage(
                &self,
                org: Uuid,
                stage: Uuid,
                changes: &pipewise_domain::StageChanges,
                if_version: Option<i64>,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut tx = self.begin_write().await?;
                let current = stage_in_org(&mut tx, org, stage).await?;
                // Edits of one pipeline's stages queue on the pipeline's row lock,
                // so that one If-Match has one winner.
                lock_pipeline(&mut tx, org, current.pipeline_id, if_version).await?;
                let current = stage_in_org(&mut tx, org, stage).await?;
                let rotting = match changes.rotting_days {
                    Some(value) => value.map(|r| i64::from(r.value())),
                    None => current.rotting_days,
                };
                let name = changes.name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or(current.name.clone());
                let probability = changes.probability.map(|p| i64::from(p.value())).unwrap_or(current.probability);
                // A write that changes nothing changes nothing: the version stays.
                if (&name, probability, rotting) != (&current.name, current.probability, current.rotting_days) {
                    sqlx::query("update stages set name = $2, probability = $3, rotting_days = $4, updated_at = $5 where id = $1")
                        .bind(stage)
                        .bind(&name)
                        .bind(probability)
                        .bind(rotting)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    touch_pipeline(&mut tx, current.pipeline_id, now).await?;
                }
                let loaded = load_pipeline(&mut tx, org, current.pipeline_id).await?;
                tx.commit().await?;
                Ok(loaded)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_stage(
                &self,
                org: Uuid,
                stage: Uuid,
                move_to: Option<Uuid>,
                actor: Actor,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut tx = self.begin_write().await?;
                let current = stage_in_org(&mut tx, org, stage).await?;
                let pipeline = current.pipeline_id;
                let siblings: i64 = sqlx::query_scalar("select count(*) from stages where pipeline_id = $1")
                    .bind(pipeline)
                    .fetch_one(&mut *tx)
                    .await?;
                if siblings <= 1 {
                    return Err(StoreError::Conflict("a pipeline keeps at least one stage"));
                }
                let deals: Vec<Uuid> = sqlx::query_scalar("select id from deals where stage_id = $1 order by id")
                    .bind(stage)
                    .fetch_all(&mut *tx)
                    .await?;
                if !deals.is_empty() {
                    let Some(target) = move_to else {
                        return Err(StoreError::Conflict(
                            "the stage still holds deals; name a stage of the same pipeline in move_deals_to",
                        ));
                    };
                    let target_pipeline: Option<Uuid> =
                        sqlx::query_scalar("select pipeline_id from stages where id = $1 and organization_id = $2")
                            .bind(target)
                            .bind(org)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if target == stage || target_pipeline != Some(pipeline) {
                        return Err(StoreError::Invalid("move_deals_to", "must be another stage of the same pipeline"));
                    }
                    for deal in &deals {
                        // Never before the deal's last event, even one a server with a clock
                        // running ahead wrote: replaying the log must end in the new stage.
                        let last: Option<DateTime<Utc>> = sqlx::query_scalar("select max(at) from deal_events where deal_id = $1")
                            .bind(deal)
                            .fetch_one(&mut *tx)
                            .await?;
                        let at = last.map_or(now, |last| last.max(now));
                        sqlx::query(
                            "update deals set stage_id = $2,
                                 stage_entered_at = case when status = 'open' then $3 else stage_entered_at end,
                                 version = version + 1, updated_at = $4
                             where id = $1",
                        )
                        .bind(deal)
                        .bind(target)
                        .bind(at)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        insert_deal_event(&mut tx, org, *deal, "moved", at, pipeline, target, Some(stage), None, actor, now).await?;
                    }
                }
                sqlx::query("delete from stages where id = $1").bind(stage).execute(&mut *tx).await?;
                // Close the gap so that positions stay 0, 1, 2…
                sqlx::query("update stages set position = position - 1 where pipeline_id = $1 and position > $2")
                    .bind(pipeline)
                    .bind(current.position)
                    .execute(&mut *tx)
                    .await?;
                touch_pipeline(&mut tx, pipeline, now).await?;
                let loaded = load_pipeline(&mut tx, org, pipeline).await?;
                tx.commit().await?;
                Ok(loaded)
            }

            #[tracing::instrument(skip_all)]
            async fn reorder_stages(
                &self,
                org: Uuid,
                pipeline: Uuid,
                order: &[Uuid],
                if_version: Option<i64>,
                now: DateTime<Utc>,
            ) -> $crate::Result<pipewise_domain::Pipeline> {
                let mut tx = self.begin_write().await?;
                lock_pipeline(&mut tx, org, pipeline, if_version).await?;
                let current: Vec<Uuid> = sqlx::query_scalar("select id from stages where pipeline_id = $1")
                    .bind(pipeline)
                    .fetch_all(&mut *tx)
                    .await?;
                if !pipewise_domain::pipeline::is_permutation(&current, order) {
                    return Err(StoreError::Invalid("stage_ids", "must list every stage of the pipeline exactly once"));
                }
                for (position, id) in order.iter().enumerate() {
                    sqlx::query("update stages set position = $2, updated_at = $3 where id = $1")
                        .bind(id)
                        .bind(position as i64)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                touch_pipeline(&mut tx, pipeline, now).await?;
                let loaded = load_pipeline(&mut tx, org, pipeline).await?;
                tx.commit().await?;
                Ok(loaded)
            }
        }

        async fn insert_pipeline(
            tx: &mut Tx,
            org: Uuid,
            name: &pipewise_domain::Name,
            stages: &[pipewise_domain::NewStage],
            now: DateTime<Utc>,
        ) -> $crate::Result<Uuid> {
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into pipelines (id, organization_id, name, version, created_at, updated_at) values ($1, $2, $3, 1, $4, $4)",
            )
            .bind(id)
            .bind(org)
            .bind(name.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            for (position, stage) in stages.iter().enumerate() {
                insert_stage(tx, org, id, stage, position as i64, now).await?;
            }
            Ok(id)
        }

        async fn insert_stage(
            tx: &mut Tx,
            org: Uuid,
            pipeline: Uuid,
            stage: &pipewise_domain::NewStage,
            position: i64,
            now: DateTime<Utc>,
        ) -> $crate::Result<Uuid> {
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into stages (id, organization_id, pipeline_id, name, position, probability, rotting_days, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(id)
            .bind(org)
            .bind(pipeline)
            .bind(stage.name.as_str())
            .bind(position)
            .bind(i64::from(stage.probability.value()))
            .bind(stage.rotting_days.map(|r| i64::from(r.value())))
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(id)
        }

        async fn load_pipeline(conn: &mut Conn, org: Uuid, id: Uuid) -> $crate::Result<pipewise_domain::Pipeline> {
            let row = sqlx::query_as::<_, $crate::pipelines::PipelineRow>(
                "select * from pipelines where organization_id = $1 and id = $2",
            )
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound)?;
            let stages = sqlx::query_as::<_, $crate::pipelines::StageRow>("select * from stages where pipeline_id = $1 order by position")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
            $crate::pipelines::assemble(row, stages)
        }

        /// Locks the pipeline row (PostgreSQL) and checks `If-Match`.
        async fn lock_pipeline(tx: &mut Tx, org: Uuid, id: Uuid, if_version: Option<i64>) -> $crate::Result<()> {
            let sql = format!("select version from pipelines where organization_id = $1 and id = $2 {}", <$store>::FOR_UPDATE);
            let version: i64 = sqlx::query_scalar(&sql)
                .bind(org)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            if if_version.is_some_and(|v| v != version) {
                return Err(StoreError::VersionMismatch);
            }
            Ok(())
        }

        async fn touch_pipeline(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> $crate::Result<()> {
            sqlx::query("update pipelines set version = version + 1, updated_at = $2 where id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        async fn stage_in_org(tx: &mut Tx, org: Uuid, stage: Uuid) -> $crate::Result<$crate::pipelines::StageRow> {
            let sql = format!("select * from stages where organization_id = $1 and id = $2 {}", <$store>::FOR_UPDATE);
            sqlx::query_as::<_, $crate::pipelines::StageRow>(&sql)
                .bind(org)
                .bind(stage)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)
        }
    };
}

pub(crate) use impl_pipeline_store;
