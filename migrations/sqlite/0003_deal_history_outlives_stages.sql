-- A deal's event log is history: it names the pipelines and stages the deal
-- passed through, and must outlive them. Deleting a stage (its deals moved
-- elsewhere) or an emptied pipeline would otherwise fail on these references.
-- SQLite cannot drop a constraint: the table is rebuilt without them
-- (nothing references deal_events, so dropping the old table is safe).

create table deal_events_new (
    id blob primary key,
    organization_id blob not null references organizations (id),
    deal_id blob not null references deals (id),
    kind text not null check (kind in ('created', 'moved', 'won', 'lost', 'reopened')),
    at text not null,
    pipeline_id blob not null,
    stage_id blob not null,
    from_stage_id blob,
    lost_reason text,
    actor_user_id blob,
    actor_api_key_id blob,
    created_at text not null
);
insert into deal_events_new (id, organization_id, deal_id, kind, at, pipeline_id, stage_id, from_stage_id,
                             lost_reason, actor_user_id, actor_api_key_id, created_at)
select id, organization_id, deal_id, kind, at, pipeline_id, stage_id, from_stage_id,
       lost_reason, actor_user_id, actor_api_key_id, created_at
from deal_events;
drop table deal_events;
alter table deal_events_new rename to deal_events;
create index deal_events_deal_idx on deal_events (deal_id, at, id);
create index deal_events_organization_idx on deal_events (organization_id, kind, at);
