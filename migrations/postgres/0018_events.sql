-- The organization's event stream, the outbox of the change feed and of the
-- webhooks: one row per change of a record, written in the transaction of
-- the change, holding the record as the API returns it and the previous
-- values of the fields that changed. Rows go after 30 days; the audit log
-- keeps who changed what for good.
--
-- Order is (tx_key, seq). tx_key is the writing transaction's id, raised to
-- the tx_key of the record's latest event when that is higher, so a record's
-- events stay in the order they were written. A reader only takes events
-- whose tx_key is below the oldest transaction still running: every
-- transaction that could still add an event below that point has ended, so
-- a cursor never passes an event that commits later.
create table events (
    seq bigserial primary key,
    id uuid not null,
    organization_id uuid not null references organizations (id),
    tx_key bigint not null,
    type text not null,
    record_kind text not null check (record_kind in ('lead', 'contact', 'account', 'deal', 'activity', 'note')),
    record_id uuid not null,
    -- JSON: the record as the API returns it, and the changed fields' previous values.
    data text not null,
    previous text,
    actor_kind text not null check (actor_kind in ('user', 'api_key', 'form', 'system')),
    actor_id uuid,
    request_id text,
    occurred_at timestamptz not null
);
create index events_feed_idx on events (organization_id, tx_key, seq);
create index events_record_idx on events (organization_id, record_id, tx_key);

-- The audit log now records every change of a record too: its kind, the
-- fields it changed (JSON: field to {from, to}), the form that made it, and
-- the request.
alter table audit_log add column target_kind text;
alter table audit_log add column changes text;
alter table audit_log add column actor_form_id uuid;
alter table audit_log add column request_id text;
create index audit_log_target_idx on audit_log (organization_id, target_id, id);
create index audit_log_user_idx on audit_log (organization_id, actor_user_id, id) where actor_user_id is not null;
create index audit_log_key_idx on audit_log (organization_id, actor_api_key_id, id) where actor_api_key_id is not null;
