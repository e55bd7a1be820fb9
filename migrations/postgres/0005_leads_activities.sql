-- Leads and their scoring, capture forms, activities, notes, notifications,
-- and the shared rate-limit counters of the public endpoints.

create table leads (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    first_name text,
    last_name text,
    -- lower-cased "first last", for prefix search
    name_key text collate "C" not null,
    -- lower-cased, not unique: the duplicate guard is a check the client may waive
    email text collate "C",
    phone text,
    company_name text,
    -- lower-cased company name, for prefix search
    company_key text collate "C" not null,
    title text,
    industry text,
    employee_count bigint check (employee_count >= 0),
    country text,
    source text,
    estimated_value_minor bigint check (estimated_value_minor >= 0),
    currency text not null,
    value_period text check (value_period in ('month', 'quarter', 'year')),
    status text not null check (status in ('new', 'contacted', 'qualified', 'unqualified', 'converted')),
    unqualified_reason text,
    owner_id uuid not null references users (id),
    score bigint not null check (score between 0 and 100),
    -- first time the score reached the MQL threshold; never moves (metrics.md)
    mql_at timestamptz,
    -- first time the status became qualified, or the conversion time; never moves
    qualified_at timestamptz,
    converted_at timestamptz,
    last_activity_at timestamptz,
    converted_contact_id uuid references contacts (id),
    converted_account_id uuid references accounts (id),
    converted_deal_id uuid references deals (id),
    form_id uuid,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
-- One index per filter and per sort, each ending in id for the keyset cursor.
-- Id order: the rescore walk.
create index leads_list_idx on leads (organization_id, id) where deleted_at is null;
create index leads_created_idx on leads (organization_id, created_at, id) where deleted_at is null;
create index leads_score_idx on leads (organization_id, score, id) where deleted_at is null;
create index leads_activity_idx on leads (organization_id, last_activity_at, id) where deleted_at is null;
create index leads_status_idx on leads (organization_id, status, created_at, id) where deleted_at is null;
create index leads_owner_idx on leads (organization_id, owner_id, created_at, id) where deleted_at is null;
create index leads_source_idx on leads (organization_id, source, created_at, id) where deleted_at is null;
create index leads_name_idx on leads (organization_id, name_key, id) where deleted_at is null;
create index leads_company_idx on leads (organization_id, company_key, id) where deleted_at is null;
-- The duplicate guard looks at every lead, trashed or not.
create index leads_email_idx on leads (organization_id, email);
-- Timelines of the contact and deal a lead became show the lead's history too.
create index leads_contact_idx on leads (converted_contact_id) where converted_contact_id is not null;
create index leads_deal_idx on leads (converted_deal_id) where converted_deal_id is not null;

create table scoring_rules (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    name text not null,
    field text not null,
    operator text not null check (operator in ('equals', 'not_equals', 'contains', 'in', 'gt', 'gte', 'lt', 'lte', 'exists')),
    -- the operand as JSON: null, a string, a decimal string, or a list of them
    value text not null,
    points bigint not null check (points between -100 and 100),
    active boolean not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index scoring_rules_organization_idx on scoring_rules (organization_id, id);

create table forms (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    name text not null,
    -- JSON arrays of lead field names
    fields text not null,
    required_fields text not null,
    source text not null,
    -- JSON array of user ids: one owner, or a round-robin over several
    owner_ids text not null,
    -- how many leads the form has assigned: the next owner is owner_ids[n % len]
    assigned_count bigint not null,
    redirect_url text,
    public_token text not null,
    active boolean not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create unique index forms_public_token_key on forms (public_token);
create index forms_organization_idx on forms (organization_id, id) where deleted_at is null;

-- Fixed-window counters shared by every API process.
create table rate_limits (
    key text collate "C" not null,
    window_start timestamptz not null,
    count bigint not null,
    primary key (key, window_start)
);

create table activities (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    type text not null check (type in ('call', 'email', 'meeting', 'task')),
    subject text not null,
    note text,
    due_at timestamptz,
    done_at timestamptz,
    owner_id uuid not null references users (id),
    lead_id uuid references leads (id),
    contact_id uuid references contacts (id),
    account_id uuid references accounts (id),
    deal_id uuid references deals (id),
    -- set once the owner has been told the activity is overdue
    overdue_notified_at timestamptz,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index activities_created_idx on activities (organization_id, created_at, id) where deleted_at is null;
create index activities_due_idx on activities (organization_id, due_at, id) where deleted_at is null;
create index activities_owner_idx on activities (organization_id, owner_id, due_at, id) where deleted_at is null;
create index activities_lead_idx on activities (lead_id, created_at) where lead_id is not null;
create index activities_contact_idx on activities (contact_id, created_at) where contact_id is not null;
create index activities_account_idx on activities (account_id, created_at) where account_id is not null;
create index activities_deal_idx on activities (deal_id, created_at) where deal_id is not null;
-- Open activities whose owner has not yet been told they are overdue.
create index activities_overdue_idx on activities (owner_id, due_at)
    where done_at is null and overdue_notified_at is null and deleted_at is null and due_at is not null;

create table notes (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    body text not null,
    lead_id uuid references leads (id),
    contact_id uuid references contacts (id),
    account_id uuid references accounts (id),
    deal_id uuid references deals (id),
    author_user_id uuid references users (id),
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz,
    constraint notes_one_record check (
        (case when lead_id is null then 0 else 1 end) + (case when contact_id is null then 0 else 1 end)
        + (case when account_id is null then 0 else 1 end) + (case when deal_id is null then 0 else 1 end) = 1
    )
);
create index notes_list_idx on notes (organization_id, id) where deleted_at is null;
create index notes_lead_idx on notes (lead_id, created_at) where lead_id is not null;
create index notes_contact_idx on notes (contact_id, created_at) where contact_id is not null;
create index notes_account_idx on notes (account_id, created_at) where account_id is not null;
create index notes_deal_idx on notes (deal_id, created_at) where deal_id is not null;

create table notifications (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    user_id uuid not null references users (id),
    kind text not null check (kind in ('lead_mql', 'assigned', 'activity_overdue')),
    record_kind text not null check (record_kind in ('lead', 'contact', 'account', 'deal', 'activity')),
    record_id uuid not null,
    message text not null,
    read_at timestamptz,
    created_at timestamptz not null
);
-- Unread first, then newest first.
create index notifications_user_idx on notifications (user_id, (read_at is null), id);
