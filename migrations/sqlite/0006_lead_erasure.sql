-- A purged lead keeps its row (activities, notes and notifications point at
-- it) but loses its personal fields for good; erased_at marks it, and every
-- read treats such a lead as absent.
alter table leads add column erased_at text;
-- Leads sorted by -last_activity_at list those without activity last, as
-- the ascending sort does. SQLite orders nulls first ascending, so reading
-- leads_activity_idx backwards already ends with them: no new index here.
