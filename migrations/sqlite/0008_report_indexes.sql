-- Reports count the deals closed in a period by their current status.
create index deals_closed_idx on deals (organization_id, status, closed_at) where deleted_at is null;
