-- Reports count the deals closed in a period by their current status.
create index deals_closed_idx on deals (organization_id, status, closed_at) where deleted_at is null;

-- When the deal's latest event happened: a report evaluated at an instant
-- after it reads the deal's own row instead of replaying its log.
alter table deals add column last_event_at timestamptz;
update deals set last_event_at = (select max(e.at) from deal_events e where e.deal_id = deals.id);
create index deals_last_event_idx on deals (organization_id, last_event_at) where deleted_at is null;
