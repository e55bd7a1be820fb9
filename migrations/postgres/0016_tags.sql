-- Tags: every record carries its tags as a JSON array of strings (sorted,
-- normalised by the API), read with the record. `record_tags` indexes them
-- for the `tag=` filters and bulk actions; triggers keep it in the
-- transaction that writes the record, so no write path can forget it.
alter table leads add column tags text not null default '[]';
alter table contacts add column tags text not null default '[]';
alter table accounts add column tags text not null default '[]';
alter table deals add column tags text not null default '[]';

create table record_tags (
    organization_id uuid not null,
    kind text not null check (kind in ('lead', 'contact', 'account', 'deal')),
    tag text not null,
    record_id uuid not null,
    primary key (organization_id, kind, tag, record_id)
);
create index record_tags_record_idx on record_tags (record_id);

create function record_tags_sync() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        delete from record_tags where record_id = old.id;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into record_tags (organization_id, kind, tag, record_id)
        select new.organization_id, tg_argv[0], t, new.id from json_array_elements_text(new.tags::json) t;
    end if;
    return null;
end
$$;

create trigger leads_tags_insert after insert on leads for each row when (new.tags <> '[]') execute function record_tags_sync('lead');
create trigger leads_tags_update after update of tags on leads for each row when (old.tags <> new.tags) execute function record_tags_sync('lead');
create trigger leads_tags_delete after delete on leads for each row when (old.tags <> '[]') execute function record_tags_sync('lead');
create trigger contacts_tags_insert after insert on contacts for each row when (new.tags <> '[]') execute function record_tags_sync('contact');
create trigger contacts_tags_update after update of tags on contacts for each row when (old.tags <> new.tags) execute function record_tags_sync('contact');
create trigger contacts_tags_delete after delete on contacts for each row when (old.tags <> '[]') execute function record_tags_sync('contact');
create trigger accounts_tags_insert after insert on accounts for each row when (new.tags <> '[]') execute function record_tags_sync('account');
create trigger accounts_tags_update after update of tags on accounts for each row when (old.tags <> new.tags) execute function record_tags_sync('account');
create trigger accounts_tags_delete after delete on accounts for each row when (old.tags <> '[]') execute function record_tags_sync('account');
create trigger deals_tags_insert after insert on deals for each row when (new.tags <> '[]') execute function record_tags_sync('deal');
create trigger deals_tags_update after update of tags on deals for each row when (old.tags <> new.tags) execute function record_tags_sync('deal');
create trigger deals_tags_delete after delete on deals for each row when (old.tags <> '[]') execute function record_tags_sync('deal');
