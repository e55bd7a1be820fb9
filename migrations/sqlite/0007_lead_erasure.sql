-- A purged lead keeps its row (activities, notes and notifications point at
-- it) but loses its personal fields for good; erased_at marks it, and every
-- read treats such a lead as absent.
alter table leads add column erased_at text;
