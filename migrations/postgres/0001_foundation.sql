-- Organizations, users, sessions, API keys, exchange rates.
-- Ids are UUID v7; timestamps are timestamptz written by the server (never
-- now()), so the two backends agree.

create table organizations (
    id uuid primary key,
    name text not null,
    base_currency text not null,
    timezone text not null,
    mql_threshold bigint not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table users (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    email text not null,
    name text not null,
    role text not null check (role in ('admin', 'manager', 'rep')),
    password_hash text not null,
    active boolean not null,
    token_version bigint not null,
    tokens_valid_after timestamptz not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
-- Logins name only an email, so an email identifies one user across all organizations.
create unique index users_email_key on users (email);
create index users_organization_idx on users (organization_id, id);

-- Refresh tokens are single-use; a family is one login and all its rotations.
create table refresh_tokens (
    id uuid primary key,
    family_id uuid not null,
    user_id uuid not null references users (id),
    token_hash text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null
);
create unique index refresh_tokens_hash_key on refresh_tokens (token_hash);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

create table api_keys (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    name text not null,
    prefix text not null,
    key_hash text not null,
    scopes text not null,
    created_by uuid references users (id),
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz
);
create unique index api_keys_hash_key on api_keys (key_hash);
create index api_keys_organization_idx on api_keys (organization_id, id);

-- Rates as decimal text: exact, and parsed into rust_decimal at the boundary.
create table exchange_rates (
    organization_id uuid not null references organizations (id),
    currency text not null,
    rate text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (organization_id, currency)
);

-- Failed logins per hashed email and per client address, in fixed windows;
-- in the database so that every API process sees the same counts.
create table login_failures (
    key text primary key,
    window_started_at timestamptz not null,
    failures bigint not null,
    updated_at timestamptz not null
);

-- Server-wide settings, such as the generated token signing secret.
create table settings (
    key text primary key,
    value text not null,
    created_at timestamptz not null
);

-- Sensitive actions (key creation and revocation, user changes), without personal data.
create table audit_log (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    actor_user_id uuid,
    actor_api_key_id uuid,
    action text not null,
    target_id uuid,
    created_at timestamptz not null
);
create index audit_log_organization_idx on audit_log (organization_id, id);
