-- When a contact or an account last saw an activity: the latest of the
-- creation time and the completion time of its linked activities. Only
-- moves forward, as for leads and deals.
alter table contacts add column last_activity_at timestamptz;
alter table accounts add column last_activity_at timestamptz;
