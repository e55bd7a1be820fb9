-- Pipelines and stages, accounts, contacts, deals and their event log.
-- Money is stored as bigint minor units (cents) and converted to a decimal
-- at the boundary. Trashed rows keep their data
-- and carry deleted_at; list indexes are partial on "not trashed", which is
-- what every list asks for.

-- Search keys use the "C" collation: byte order, so a prefix becomes an index range.

create table pipelines (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    name text not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index pipelines_organization_idx on pipelines (organization_id, id);

create table stages (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    pipeline_id uuid not null references pipelines (id),
    name text not null,
    position bigint not null,
    probability bigint not null check (probability between 0 and 100),
    rotting_days bigint check (rotting_days > 0),
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index stages_pipeline_idx on stages (pipeline_id, position);

create table accounts (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    name text not null,
    -- lower-cased copy for case-insensitive prefix search and sorting
    name_key text collate "C" not null,
    domain text,
    industry text,
    employee_count bigint,
    owner_id uuid not null references users (id),
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index accounts_list_idx on accounts (organization_id, id) where deleted_at is null;
create index accounts_name_idx on accounts (organization_id, name_key, id) where deleted_at is null;
create index accounts_owner_idx on accounts (organization_id, owner_id, id) where deleted_at is null;
create index accounts_domain_idx on accounts (organization_id, domain) where deleted_at is null;

create table contacts (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    first_name text,
    last_name text,
    -- lower-cased "first last" and email, for prefix search
    name_key text collate "C" not null,
    email text,
    phone text,
    title text,
    account_id uuid references accounts (id),
    buying_role text check (buying_role in ('decision_maker', 'influencer', 'champion', 'user', 'other')),
    owner_id uuid not null references users (id),
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz,
    -- set when an admin purged the contact: its personal fields are gone
    erased_at timestamptz
);
create unique index contacts_email_key on contacts (organization_id, email) where email is not null;
create index contacts_list_idx on contacts (organization_id, id) where deleted_at is null;
create index contacts_account_idx on contacts (organization_id, account_id, id) where deleted_at is null;
create index contacts_owner_idx on contacts (organization_id, owner_id, id) where deleted_at is null;
create index contacts_role_idx on contacts (organization_id, buying_role, id) where deleted_at is null;
create index contacts_name_idx on contacts (organization_id, name_key, id) where deleted_at is null;

create table deals (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    pipeline_id uuid not null references pipelines (id),
    stage_id uuid not null references stages (id),
    title text not null,
    title_key text collate "C" not null,
    amount_minor bigint not null check (amount_minor >= 0),
    currency text not null,
    status text not null check (status in ('open', 'won', 'lost')),
    owner_id uuid not null references users (id),
    account_id uuid references accounts (id),
    source text,
    probability bigint check (probability between 0 and 100),
    expected_close_date date,
    forecast_category text not null check (forecast_category in ('pipeline', 'best_case', 'commit', 'omitted')),
    lost_reason text,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    closed_at timestamptz,
    stage_entered_at timestamptz not null,
    last_activity_at timestamptz,
    deleted_at timestamptz
);
-- One index per filter and per sort, each ending in id for the keyset cursor.
create index deals_created_idx on deals (organization_id, created_at, id) where deleted_at is null;
create index deals_updated_idx on deals (organization_id, updated_at, id) where deleted_at is null;
create index deals_amount_idx on deals (organization_id, amount_minor, id) where deleted_at is null;
create index deals_close_date_idx on deals (organization_id, expected_close_date, id) where deleted_at is null;
create index deals_title_idx on deals (organization_id, title_key, id) where deleted_at is null;
create index deals_pipeline_idx on deals (organization_id, pipeline_id, stage_id, created_at, id) where deleted_at is null;
create index deals_stage_idx on deals (stage_id, created_at, id) where deleted_at is null;
create index deals_owner_idx on deals (organization_id, owner_id, created_at, id) where deleted_at is null;
create index deals_status_idx on deals (organization_id, status, created_at, id) where deleted_at is null;
create index deals_account_idx on deals (organization_id, account_id, created_at, id) where deleted_at is null;
create index deals_source_idx on deals (organization_id, source, created_at, id) where deleted_at is null;
-- Every deal of a stage, trashed or not: deleting a stage must see them all.
create index deals_any_stage_idx on deals (stage_id);

create table deal_contacts (
    deal_id uuid not null references deals (id),
    contact_id uuid not null references contacts (id),
    organization_id uuid not null references organizations (id),
    buying_role text check (buying_role in ('decision_maker', 'influencer', 'champion', 'user', 'other')),
    created_at timestamptz not null,
    primary key (deal_id, contact_id)
);
create index deal_contacts_contact_idx on deal_contacts (contact_id, deal_id);

-- The deal's history: replaying it gives the deal's state at any instant.
create table deal_events (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    deal_id uuid not null references deals (id),
    kind text not null check (kind in ('created', 'moved', 'won', 'lost', 'reopened')),
    at timestamptz not null,
    pipeline_id uuid not null references pipelines (id),
    stage_id uuid not null references stages (id),
    from_stage_id uuid references stages (id),
    lost_reason text,
    actor_user_id uuid,
    actor_api_key_id uuid,
    created_at timestamptz not null
);
create index deal_events_deal_idx on deal_events (deal_id, at, id);
create index deal_events_organization_idx on deal_events (organization_id, kind, at);
