-- Custom fields: admins define fields per kind of record (`custom_fields`);
-- every record carries its values as one JSON object (key to value, values
-- already in their canonical form, checked by the API against the
-- definitions), read with the record. `record_custom_values` indexes them,
-- one row per value (per option of a multi_select), lower-cased, for the
-- `cf.<key>=` filters; triggers keep it in the transaction that writes the
-- record, so no write path can forget it.
create table custom_fields (
    id uuid primary key,
    organization_id uuid not null references organizations (id),
    resource text not null check (resource in ('leads', 'contacts', 'accounts', 'deals')),
    key text not null,
    label text not null,
    type text not null check (type in ('text', 'number', 'decimal', 'date', 'boolean', 'select', 'multi_select')),
    -- A JSON array of strings: the options of a select or multi_select.
    options text not null default '[]',
    required boolean not null default false,
    version bigint not null default 1,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (organization_id, resource, key)
);

alter table leads add column custom_fields text not null default '{}';
alter table contacts add column custom_fields text not null default '{}';
alter table accounts add column custom_fields text not null default '{}';
alter table deals add column custom_fields text not null default '{}';

create table record_custom_values (
    organization_id uuid not null,
    kind text not null check (kind in ('lead', 'contact', 'account', 'deal')),
    field_key text not null,
    value text not null,
    record_id uuid not null,
    primary key (organization_id, kind, field_key, value, record_id)
);
create index record_custom_values_record_idx on record_custom_values (record_id);

create function record_custom_values_sync() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        delete from record_custom_values where record_id = old.id;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into record_custom_values (organization_id, kind, field_key, value, record_id)
        select distinct new.organization_id, tg_argv[0], f.key, lower(v.value), new.id
        from jsonb_each(new.custom_fields::jsonb) f
        cross join lateral (
            select e as value from jsonb_array_elements_text(
                case when jsonb_typeof(f.value) = 'array' then f.value else '[]'::jsonb end) e
            union all
            select f.value #>> '{}' where jsonb_typeof(f.value) not in ('array', 'null')
        ) v;
    end if;
    return null;
end
$$;

create trigger leads_custom_insert after insert on leads for each row when (new.custom_fields <> '{}') execute function record_custom_values_sync('lead');
create trigger leads_custom_update after update of custom_fields on leads for each row when (old.custom_fields <> new.custom_fields) execute function record_custom_values_sync('lead');
create trigger leads_custom_delete after delete on leads for each row when (old.custom_fields <> '{}') execute function record_custom_values_sync('lead');
create trigger contacts_custom_insert after insert on contacts for each row when (new.custom_fields <> '{}') execute function record_custom_values_sync('contact');
create trigger contacts_custom_update after update of custom_fields on contacts for each row when (old.custom_fields <> new.custom_fields) execute function record_custom_values_sync('contact');
create trigger contacts_custom_delete after delete on contacts for each row when (old.custom_fields <> '{}') execute function record_custom_values_sync('contact');
create trigger accounts_custom_insert after insert on accounts for each row when (new.custom_fields <> '{}') execute function record_custom_values_sync('account');
create trigger accounts_custom_update after update of custom_fields on accounts for each row when (old.custom_fields <> new.custom_fields) execute function record_custom_values_sync('account');
create trigger accounts_custom_delete after delete on accounts for each row when (old.custom_fields <> '{}') execute function record_custom_values_sync('account');
create trigger deals_custom_insert after insert on deals for each row when (new.custom_fields <> '{}') execute function record_custom_values_sync('deal');
create trigger deals_custom_update after update of custom_fields on deals for each row when (old.custom_fields <> new.custom_fields) execute function record_custom_values_sync('deal');
create trigger deals_custom_delete after delete on deals for each row when (old.custom_fields <> '{}') execute function record_custom_values_sync('deal');
