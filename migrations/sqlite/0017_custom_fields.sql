-- Custom fields: admins define fields per kind of record (`custom_fields`);
-- every record carries its values as one JSON object (key to value, values
-- already in their canonical form, checked by the API against the
-- definitions), read with the record. `record_custom_values` indexes them,
-- one row per value (per option of a multi_select), lower-cased, for the
-- `cf.<key>=` filters; triggers keep it in the transaction that writes the
-- record, so no write path can forget it.
create table custom_fields (
    id blob primary key,
    organization_id blob not null references organizations (id),
    resource text not null check (resource in ('leads', 'contacts', 'accounts', 'deals')),
    key text not null,
    label text not null,
    type text not null check (type in ('text', 'number', 'decimal', 'date', 'boolean', 'select', 'multi_select')),
    -- A JSON array of strings: the options of a select or multi_select.
    options text not null default '[]',
    required integer not null default 0,
    version integer not null default 1,
    created_at text not null,
    updated_at text not null,
    unique (organization_id, resource, key)
);

alter table leads add column custom_fields text not null default '{}';
alter table contacts add column custom_fields text not null default '{}';
alter table accounts add column custom_fields text not null default '{}';
alter table deals add column custom_fields text not null default '{}';

create table record_custom_values (
    organization_id blob not null,
    kind text not null check (kind in ('lead', 'contact', 'account', 'deal')),
    field_key text not null,
    value text not null,
    record_id blob not null,
    primary key (organization_id, kind, field_key, value, record_id)
) without rowid;
create index record_custom_values_record_idx on record_custom_values (record_id);


create trigger leads_custom_insert after insert on leads when new.custom_fields <> '{}' begin
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'lead', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'lead', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger leads_custom_update after update of custom_fields on leads when old.custom_fields <> new.custom_fields begin
    delete from record_custom_values where record_id = old.id;
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'lead', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'lead', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger leads_custom_delete after delete on leads when old.custom_fields <> '{}' begin
    delete from record_custom_values where record_id = old.id;
end;

create trigger contacts_custom_insert after insert on contacts when new.custom_fields <> '{}' begin
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'contact', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'contact', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger contacts_custom_update after update of custom_fields on contacts when old.custom_fields <> new.custom_fields begin
    delete from record_custom_values where record_id = old.id;
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'contact', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'contact', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger contacts_custom_delete after delete on contacts when old.custom_fields <> '{}' begin
    delete from record_custom_values where record_id = old.id;
end;

create trigger accounts_custom_insert after insert on accounts when new.custom_fields <> '{}' begin
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'account', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'account', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger accounts_custom_update after update of custom_fields on accounts when old.custom_fields <> new.custom_fields begin
    delete from record_custom_values where record_id = old.id;
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'account', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'account', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger accounts_custom_delete after delete on accounts when old.custom_fields <> '{}' begin
    delete from record_custom_values where record_id = old.id;
end;

create trigger deals_custom_insert after insert on deals when new.custom_fields <> '{}' begin
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'deal', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'deal', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger deals_custom_update after update of custom_fields on deals when old.custom_fields <> new.custom_fields begin
    delete from record_custom_values where record_id = old.id;
    insert or ignore into record_custom_values (organization_id, kind, field_key, value, record_id)
    select new.organization_id, 'deal', f.key,
        lower(case f.type when 'true' then 'true' when 'false' then 'false' else f.value end), new.id
    from json_each(new.custom_fields) f where f.type not in ('array', 'null')
    union all
    select new.organization_id, 'deal', f.key, lower(e.value), new.id
    from json_each(new.custom_fields) f, json_each(f.value) e where f.type = 'array';
end;
create trigger deals_custom_delete after delete on deals when old.custom_fields <> '{}' begin
    delete from record_custom_values where record_id = old.id;
end;
