-- Covering indexes for the reports, so that a year of a million deals is
-- read from compact index entries instead of the wide rows.

-- How long the state an event set lasted, in whole milliseconds (half a
-- millisecond rounds up), written with `ends_at`: a year of stints is then
-- summed and ranked without timestamp arithmetic.
alter table deal_events add column duration_ms bigint;
update deal_events set duration_ms = cast(floor(date_part('epoch', ends_at - at) * 1000 + 0.5) as bigint)
where ends_at is not null;

-- The stage reports read stints by when they started or ended; with every
-- column they use in the index, a year of stints is an index-only scan.
drop index deal_events_stint_start_idx;
create index deal_events_stint_start_idx on deal_events (organization_id, pipeline_id, at)
    include (id, deal_id, stage_id, kind, ends_at, duration_ms, next_kind, next_pipeline_id, next_stage_id)
    where opens_stint = 1;
drop index deal_events_stint_end_idx;
create index deal_events_stint_end_idx on deal_events (organization_id, pipeline_id, ends_at)
    include (id, deal_id, stage_id, at, duration_ms) where opens_stint = 1;

-- Stints are counted without joining every live deal: only the trashed ones
-- are left out, and these are few.
create index deals_trashed_idx on deals (organization_id, id) where deleted_at is not null;

-- The deals closed in a period by their current status, with what the
-- figures read of them (summary, reps, lost reasons, the forecast's won
-- amounts, the cohort's won deals).
drop index deals_closed_idx;
create index deals_closed_idx on deals (organization_id, status, closed_at)
    include (id, currency, amount_minor, created_at, owner_id, source, pipeline_id, stage_id, lost_reason, last_event_at)
    where deleted_at is null;

-- The deals open now, with what the point-in-time figures read of them
-- (snapshot, forecast, stalled, open counts).
create index deals_open_idx on deals (organization_id, last_event_at)
    include (id, owner_id, source, currency, amount_minor, probability, expected_close_date, forecast_category,
             created_at, live_activity_at, stage_id, pipeline_id, stage_entered_at)
    where status = 'open' and deleted_at is null;

-- Activities done in a period, and the open ones by due date (overdue, due
-- today), without reading every activity.
create index activities_done_idx on activities (organization_id, done_at) include (type, owner_id, due_at, created_at)
    where deleted_at is null and done_at is not null;
create index activities_open_idx on activities (organization_id, due_at) include (type, owner_id, created_at)
    where deleted_at is null and done_at is null;
