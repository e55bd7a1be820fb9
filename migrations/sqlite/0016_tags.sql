-- Tags: every record carries its tags as a JSON array of strings (sorted,
-- normalised by the API), read with the record. `record_tags` indexes them
-- for the `tag=` filters and bulk actions; triggers keep it in the
-- transaction that writes the record, so no write path can forget it.
alter table leads add column tags text not null default '[]';
alter table contacts add column tags text not null default '[]';
alter table accounts add column tags text not null default '[]';
alter table deals add column tags text not null default '[]';

create table record_tags (
    organization_id blob not null,
    kind text not null check (kind in ('lead', 'contact', 'account', 'deal')),
    tag text not null,
    record_id blob not null,
    primary key (organization_id, kind, tag, record_id)
) without rowid;
create index record_tags_record_idx on record_tags (record_id);

create trigger leads_tags_insert after insert on leads when new.tags <> '[]' begin
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'lead', value, new.id from json_each(new.tags);
end;
create trigger leads_tags_update after update of tags on leads when old.tags <> new.tags begin
    delete from record_tags where record_id = old.id;
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'lead', value, new.id from json_each(new.tags);
end;
create trigger leads_tags_delete after delete on leads when old.tags <> '[]' begin
    delete from record_tags where record_id = old.id;
end;

create trigger contacts_tags_insert after insert on contacts when new.tags <> '[]' begin
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'contact', value, new.id from json_each(new.tags);
end;
create trigger contacts_tags_update after update of tags on contacts when old.tags <> new.tags begin
    delete from record_tags where record_id = old.id;
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'contact', value, new.id from json_each(new.tags);
end;
create trigger contacts_tags_delete after delete on contacts when old.tags <> '[]' begin
    delete from record_tags where record_id = old.id;
end;

create trigger accounts_tags_insert after insert on accounts when new.tags <> '[]' begin
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'account', value, new.id from json_each(new.tags);
end;
create trigger accounts_tags_update after update of tags on accounts when old.tags <> new.tags begin
    delete from record_tags where record_id = old.id;
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'account', value, new.id from json_each(new.tags);
end;
create trigger accounts_tags_delete after delete on accounts when old.tags <> '[]' begin
    delete from record_tags where record_id = old.id;
end;

create trigger deals_tags_insert after insert on deals when new.tags <> '[]' begin
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'deal', value, new.id from json_each(new.tags);
end;
create trigger deals_tags_update after update of tags on deals when old.tags <> new.tags begin
    delete from record_tags where record_id = old.id;
    insert into record_tags (organization_id, kind, tag, record_id) select new.organization_id, 'deal', value, new.id from json_each(new.tags);
end;
create trigger deals_tags_delete after delete on deals when old.tags <> '[]' begin
    delete from record_tags where record_id = old.id;
end;
