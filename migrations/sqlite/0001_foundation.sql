-- Organizations, users, sessions, API keys, exchange rates.
-- Ids are UUID v7 stored as 16-byte blobs; timestamps are RFC 3339 text written
-- by the server (never CURRENT_TIMESTAMP), so the two backends agree.

create table organizations (
    id blob primary key,
    name text not null,
    base_currency text not null,
    timezone text not null,
    mql_threshold integer not null,
    version integer not null,
    created_at text not null,
    updated_at text not null
);

create table users (
    id blob primary key,
    organization_id blob not null references organizations (id),
    email text not null,
    name text not null,
    role text not null check (role in ('admin', 'manager', 'rep')),
    password_hash text not null,
    active boolean not null,
    token_version integer not null,
    tokens_valid_after text not null,
    version integer not null,
    created_at text not null,
    updated_at text not null
);
-- Logins name only an email, so an email identifies one user across all organizations.
create unique index users_email_key on users (email);
create index users_organization_idx on users (organization_id, id);

-- Refresh tokens are single-use; a family is one login and all its rotations.
create table refresh_tokens (
    id blob primary key,
    family_id blob not null,
    user_id blob not null references users (id),
    token_hash text not null,
    expires_at text not null,
    used_at text,
    revoked_at text,
    created_at text not null
);
create unique index refresh_tokens_hash_key on refresh_tokens (token_hash);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

create table api_keys (
    id blob primary key,
    organization_id blob not null references organizations (id),
    name text not null,
    prefix text not null,
    key_hash text not null,
    scopes text not null,
    created_by blob references users (id),
    created_at text not null,
    updated_at text not null,
    last_used_at text,
    revoked_at text
);
create unique index api_keys_hash_key on api_keys (key_hash);
create index api_keys_organization_idx on api_keys (organization_id, id);

-- Rates as decimal text: exact, and parsed into rust_decimal at the boundary.
create table exchange_rates (
    organization_id blob not null references organizations (id),
    currency text not null,
    rate text not null,
    created_at text not null,
    updated_at text not null,
    primary key (organization_id, currency)
);

-- Failed logins per hashed email and per client address, in fixed windows;
-- in the database so that every API process sees the same counts.
create table login_failures (
    key text primary key,
    window_started_at text not null,
    failures integer not null,
    updated_at text not null
);

-- Server-wide settings, such as the generated token signing secret.
create table settings (
    key text primary key,
    value text not null,
    created_at text not null
);

-- Sensitive actions (key creation and revocation, user changes), without personal data.
create table audit_log (
    id blob primary key,
    organization_id blob not null references organizations (id),
    actor_user_id blob,
    actor_api_key_id blob,
    action text not null,
    target_id blob,
    created_at text not null
);
create index audit_log_organization_idx on audit_log (organization_id, id);
