-- Covering indexes for the reports, so that a year of a million deals is
-- read from compact index entries instead of the wide rows. SQLite has no
-- `include`: the covered columns follow the key columns, the columns of
-- the index's own `where` last (SQLite reads an index alone only when it
-- holds every column a query names).

-- How long the state an event set lasted, in whole milliseconds, written
-- with `ends_at`: a year of stints is then summed and ranked without
-- parsing two text timestamps per stint.
alter table deal_events add column duration_ms integer;
update deal_events set duration_ms = cast(round((julianday(ends_at) - julianday(at)) * 86400000.0) as integer)
where ends_at is not null;

-- The stage reports read stints by when they started or ended; with every
-- column they use in the index, a year of stints never reads the table.
drop index deal_events_stint_start_idx;
create index deal_events_stint_start_idx on deal_events (organization_id, pipeline_id, at,
    id, deal_id, stage_id, kind, ends_at, duration_ms, next_kind, next_pipeline_id, next_stage_id, opens_stint)
    where opens_stint = 1;
drop index deal_events_stint_end_idx;
create index deal_events_stint_end_idx on deal_events (organization_id, pipeline_id, ends_at,
    id, deal_id, stage_id, at, duration_ms, opens_stint) where opens_stint = 1;

-- Stints are counted without joining every live deal: only the trashed ones
-- are left out, and these are few.
create index deals_trashed_idx on deals (organization_id, id) where deleted_at is not null;

-- The deals closed in a period by their current status, with what the
-- figures read of them (summary, reps, lost reasons, the forecast's won
-- amounts, the cohort's won deals).
drop index deals_closed_idx;
create index deals_closed_idx on deals (organization_id, status, closed_at,
    id, currency, amount_minor, created_at, owner_id, source, pipeline_id, stage_id, lost_reason, last_event_at,
    deleted_at) where deleted_at is null;

-- The deals open now, with what the point-in-time figures read of them
-- (snapshot, forecast, stalled, open counts).
create index deals_open_idx on deals (organization_id, last_event_at,
    id, owner_id, source, currency, amount_minor, probability, expected_close_date, forecast_category,
    created_at, live_activity_at, stage_id, pipeline_id, stage_entered_at, status, deleted_at)
    where status = 'open' and deleted_at is null;

-- Activities done in a period, and the open ones by due date (overdue, due
-- today), without reading every activity.
create index activities_done_idx on activities (organization_id, done_at, type, owner_id, due_at, created_at,
    deleted_at) where deleted_at is null and done_at is not null;
create index activities_open_idx on activities (organization_id, due_at, type, owner_id, created_at, done_at, deleted_at)
    where deleted_at is null and done_at is null;
