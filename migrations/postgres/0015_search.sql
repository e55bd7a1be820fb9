-- Search (`GET /search`, and the `q` filter of the lead and contact lists):
-- each record's words as a full-text vector that PostgreSQL keeps itself (a
-- stored generated column: no write path can forget it), under a GIN index
-- of the live records. ASCII punctuation separates words, as SQLite's FTS5
-- tokenizer splits them, so both backends find the same records (the
-- parser would otherwise keep `ada@acme.example` or `ada-lovelace` whole);
-- a phone number is also one word of its digits. The 'simple' configuration
-- lower-cases and does not stem: a prefix of a name finds the name.
alter table leads add column search_vector tsvector generated always as (to_tsvector('simple', regexp_replace(
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(company_name, '') || ' '
    || coalesce(title, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' '
    || regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'),
    '[!-/:-@\[-`{-~[:space:]]+', ' ', 'g'))) stored;
create index leads_search_idx on leads using gin (search_vector) where deleted_at is null;

alter table contacts add column search_vector tsvector generated always as (to_tsvector('simple', regexp_replace(
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(title, '') || ' '
    || coalesce(email, '') || ' ' || coalesce(phone, '') || ' '
    || regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'),
    '[!-/:-@\[-`{-~[:space:]]+', ' ', 'g'))) stored;
create index contacts_search_idx on contacts using gin (search_vector) where deleted_at is null;

alter table accounts add column search_vector tsvector generated always as (to_tsvector('simple', regexp_replace(
    name || ' ' || coalesce(domain, ''),
    '[!-/:-@\[-`{-~[:space:]]+', ' ', 'g'))) stored;
create index accounts_search_idx on accounts using gin (search_vector) where deleted_at is null;

alter table deals add column search_vector tsvector generated always as (to_tsvector('simple', regexp_replace(
    title,
    '[!-/:-@\[-`{-~[:space:]]+', ' ', 'g'))) stored;
create index deals_search_idx on deals using gin (search_vector) where deleted_at is null;
