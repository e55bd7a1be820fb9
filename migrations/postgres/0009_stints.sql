-- Each event carries how the state it set ended: the next event's instant,
-- kind, pipeline and stage (null while it is the deal's latest event), and
-- whether it opened a stint (the deal is open after it, in its stage). A
-- stint is then one row, and the stage reports read ranges of an index
-- instead of looking for each event's neighbour in the log.
alter table deal_events
    add column opens_stint integer not null default 0,
    add column ends_at timestamptz,
    add column next_kind text,
    add column next_pipeline_id uuid,
    add column next_stage_id uuid;

update deal_events e
set ends_at = n.ends_at, next_kind = n.next_kind, next_pipeline_id = n.next_pipeline_id, next_stage_id = n.next_stage_id
from (
    select id,
           lead(at) over w as ends_at,
           lead(kind) over w as next_kind,
           lead(pipeline_id) over w as next_pipeline_id,
           lead(stage_id) over w as next_stage_id
    from deal_events
    window w as (partition by deal_id order by at, id)
) n
where n.id = e.id and n.ends_at is not null;

-- Creation and reopening open a stint; a move does when the deal was open
-- (a move under a closed deal only relabels a deleted stage).
update deal_events e
set opens_stint = 1
where e.kind in ('created', 'reopened')
   or (e.kind = 'moved' and coalesce((
        select w.kind from deal_events w
        where w.deal_id = e.deal_id and (w.at, w.id) < (e.at, e.id) and w.kind in ('won', 'lost', 'reopened')
        order by w.at desc, w.id desc limit 1), 'reopened') = 'reopened');

create index deal_events_stint_start_idx on deal_events (organization_id, pipeline_id, at) where opens_stint = 1;
create index deal_events_stint_end_idx on deal_events (organization_id, pipeline_id, ends_at) where opens_stint = 1;
