-- CSV imports: every record can carry the id a partner's system knows it
-- by, unique within the organization, so that a re-import finds it again.
alter table leads add column external_id text;
alter table contacts add column external_id text;
alter table accounts add column external_id text;
alter table deals add column external_id text;
-- The unique indexes are what make "one record per external id" hold when
-- two imports or an import and an API write race: the second insert fails.
create unique index leads_external_id_key on leads (organization_id, external_id) where external_id is not null;
create unique index contacts_external_id_key on contacts (organization_id, external_id) where external_id is not null;
create unique index accounts_external_id_key on accounts (organization_id, external_id) where external_id is not null;
create unique index deals_external_id_key on deals (organization_id, external_id) where external_id is not null;

-- One row per import, with its outcome: what `GET /imports/{id}` shows.
create table imports (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    resource text not null check (resource in ('leads', 'contacts', 'accounts', 'deals')),
    mode text not null check (mode in ('validate', 'atomic', 'partial')),
    dedupe text check (dedupe in ('skip', 'update')),
    status text not null check (status in ('validated', 'completed', 'rolled_back')),
    rows_total bigint not null,
    rows_created bigint not null,
    rows_updated bigint not null,
    rows_skipped bigint not null,
    rows_failed bigint not null,
    -- The first failed rows as a JSON array of {line, column, message}.
    errors text not null,
    errors_truncated boolean not null,
    actor_user_id uuid,
    actor_api_key_id uuid,
    created_at timestamptz not null,
    finished_at timestamptz not null
);
create index imports_org_idx on imports (organization_id, created_at desc);
