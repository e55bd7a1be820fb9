-- A purged lead keeps its row (activities, notes and notifications point at
-- it) but loses its personal fields for good; erased_at marks it, and every
-- read treats such a lead as absent.
alter table leads add column erased_at timestamptz;
-- Leads sorted by -last_activity_at list those without activity last, as
-- the ascending sort does: a backward scan of the ascending index would put
-- them first, so the descending order gets an index of its own.
create index leads_activity_desc_idx on leads (organization_id, last_activity_at desc nulls last, id desc)
    where deleted_at is null;
