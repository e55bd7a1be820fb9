-- Search (`GET /search`, and the `q` filter of the lead and contact lists):
-- an FTS5 index per resource, kept by triggers in the transaction that
-- writes the record, so no write path can forget it. The index holds no
-- copy of the text (contentless) and names each record by its table's
-- rowid; the tokenizer splits on what is not a letter or a digit and
-- lower-cases, as PostgreSQL's vectors do; a phone number is also one word
-- of its digits. (A VACUUM may renumber the rowids of these tables:
-- Pipewise never runs one, and after one the index must be rebuilt.)

create virtual table leads_search using fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
insert into leads_search (rowid, body) select rowid, coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(company_name, '') || ' ' || coalesce(title, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', '') from leads;
create trigger leads_search_insert after insert on leads begin
    insert into leads_search (rowid, body) values (new.rowid, coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '') || ' ' || coalesce(new.company_name, '') || ' ' || coalesce(new.title, '') || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(new.phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', ''));
end;
create trigger leads_search_update after update of first_name, last_name, company_name, title, email, phone on leads begin
    delete from leads_search where rowid = old.rowid;
    insert into leads_search (rowid, body) values (new.rowid, coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '') || ' ' || coalesce(new.company_name, '') || ' ' || coalesce(new.title, '') || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(new.phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', ''));
end;
create trigger leads_search_delete after delete on leads begin
    delete from leads_search where rowid = old.rowid;
end;

create virtual table contacts_search using fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
insert into contacts_search (rowid, body) select rowid, coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(title, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', '') from contacts;
create trigger contacts_search_insert after insert on contacts begin
    insert into contacts_search (rowid, body) values (new.rowid, coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '') || ' ' || coalesce(new.title, '') || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(new.phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', ''));
end;
create trigger contacts_search_update after update of first_name, last_name, title, email, phone on contacts begin
    delete from contacts_search where rowid = old.rowid;
    insert into contacts_search (rowid, body) values (new.rowid, coalesce(new.first_name, '') || ' ' || coalesce(new.last_name, '') || ' ' || coalesce(new.title, '') || ' ' || coalesce(new.email, '') || ' ' || coalesce(new.phone, '') || ' ' || replace(replace(replace(replace(replace(replace(coalesce(new.phone, ''), ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', ''));
end;
create trigger contacts_search_delete after delete on contacts begin
    delete from contacts_search where rowid = old.rowid;
end;

create virtual table accounts_search using fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
insert into accounts_search (rowid, body) select rowid, name || ' ' || coalesce(domain, '') from accounts;
create trigger accounts_search_insert after insert on accounts begin
    insert into accounts_search (rowid, body) values (new.rowid, new.name || ' ' || coalesce(new.domain, ''));
end;
create trigger accounts_search_update after update of name, domain on accounts begin
    delete from accounts_search where rowid = old.rowid;
    insert into accounts_search (rowid, body) values (new.rowid, new.name || ' ' || coalesce(new.domain, ''));
end;
create trigger accounts_search_delete after delete on accounts begin
    delete from accounts_search where rowid = old.rowid;
end;

create virtual table deals_search using fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
insert into deals_search (rowid, body) select rowid, title from deals;
create trigger deals_search_insert after insert on deals begin
    insert into deals_search (rowid, body) values (new.rowid, new.title);
end;
create trigger deals_search_update after update of title on deals begin
    delete from deals_search where rowid = old.rowid;
    insert into deals_search (rowid, body) values (new.rowid, new.title);
end;
create trigger deals_search_delete after delete on deals begin
    delete from deals_search where rowid = old.rowid;
end;
