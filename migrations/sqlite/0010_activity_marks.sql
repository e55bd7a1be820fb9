-- What the reports need to know of a record's live activities, kept on the
-- record: a lead's first activity (its first response) and the latest
-- instant (creation or completion, whichever is later) of a deal's
-- activities. Unlike `last_activity_at`, which only moves forward, these
-- follow trashing, restoring and relinking.
alter table leads add column first_activity_at text;
alter table deals add column live_activity_at text;

update leads set first_activity_at = (
    select min(a.created_at) from activities a where a.lead_id = leads.id and a.deleted_at is null);
update deals set live_activity_at = (
    select max(case when a.done_at is not null and a.done_at > a.created_at then a.done_at else a.created_at end)
    from activities a where a.deal_id = deals.id and a.deleted_at is null);

-- The leads report reads the leads qualified or past the threshold in a period.
create index leads_qualified_idx on leads (organization_id, qualified_at) where deleted_at is null;
create index leads_mql_idx on leads (organization_id, mql_at) where deleted_at is null;
