-- Predicted conversion (metrics.md, "Lead potential and predicted
-- conversion"): what the prediction reads of a lead, and the frequency
-- tables it learns from.

-- `business` or `free`, from the email address (the free-mail list lives in
-- the code, which writes this with the email); null without an email.
alter table leads add column email_domain_kind text check (email_domain_kind in ('business', 'free'));
-- When the lead was converted or disqualified; null while it is open.
alter table leads add column closed_at text;
update leads set closed_at = case status when 'converted' then converted_at else updated_at end
where status in ('converted', 'unqualified');
create index leads_closed_idx on leads (organization_id, closed_at) where closed_at is not null and deleted_at is null;

-- For each organization, field and value: how many closed leads (live,
-- converted or unqualified) had it. Field `all` (value '') holds the totals;
-- a missing value is ''. Kept by the triggers below in the transaction that
-- changes the lead, so the tables never disagree with the leads.
create table lead_outcome_counts (
    organization_id blob not null references organizations (id),
    field text not null,
    value text not null,
    successes integer not null,
    failures integer not null,
    primary key (organization_id, field, value)
) without rowid;

create trigger leads_count_outcomes_insert after insert on leads
when new.deleted_at is null and new.status in ('converted', 'unqualified')
begin
    insert into lead_outcome_counts (organization_id, field, value, successes, failures)
    select new.organization_id, f.field, f.value,
           case when new.status = 'converted' then 1 else 0 end,
           case when new.status = 'unqualified' then 1 else 0 end
    from (
        select 'all' as field, '' as value
        union all select 'source', coalesce(new.source, '')
        union all select 'industry', coalesce(new.industry, '')
        union all select 'employee_band', case
            when new.employee_count between 1 and 10 then '1-10'
            when new.employee_count between 11 and 50 then '11-50'
            when new.employee_count between 51 and 200 then '51-200'
            when new.employee_count between 201 and 1000 then '201-1000'
            when new.employee_count between 1001 and 5000 then '1001-5000'
            when new.employee_count > 5000 then '5001+'
            else ''
        end
        union all select 'country', coalesce(new.country, '')
        union all select 'email_domain_kind', coalesce(new.email_domain_kind, '')
    ) as f
    where true
    on conflict (organization_id, field, value) do update
    set successes = successes + excluded.successes, failures = failures + excluded.failures;
end;

create trigger leads_count_outcomes_update
after update of status, deleted_at, source, industry, employee_count, country, email_domain_kind on leads
when (old.status is not new.status or old.deleted_at is not new.deleted_at or old.source is not new.source or old.industry is not new.industry or old.employee_count is not new.employee_count or old.country is not new.country or old.email_domain_kind is not new.email_domain_kind) and ((old.deleted_at is null and old.status in ('converted', 'unqualified')) or (new.deleted_at is null and new.status in ('converted', 'unqualified')))
begin
    insert into lead_outcome_counts (organization_id, field, value, successes, failures)
    select old.organization_id, f.field, f.value,
           case when old.status = 'converted' then -1 else 0 end,
           case when old.status = 'unqualified' then -1 else 0 end
    from (
        select 'all' as field, '' as value
        union all select 'source', coalesce(old.source, '')
        union all select 'industry', coalesce(old.industry, '')
        union all select 'employee_band', case
            when old.employee_count between 1 and 10 then '1-10'
            when old.employee_count between 11 and 50 then '11-50'
            when old.employee_count between 51 and 200 then '51-200'
            when old.employee_count between 201 and 1000 then '201-1000'
            when old.employee_count between 1001 and 5000 then '1001-5000'
            when old.employee_count > 5000 then '5001+'
            else ''
        end
        union all select 'country', coalesce(old.country, '')
        union all select 'email_domain_kind', coalesce(old.email_domain_kind, '')
    ) as f
    where old.deleted_at is null and old.status in ('converted', 'unqualified')
    on conflict (organization_id, field, value) do update
    set successes = successes + excluded.successes, failures = failures + excluded.failures;
    insert into lead_outcome_counts (organization_id, field, value, successes, failures)
    select new.organization_id, f.field, f.value,
           case when new.status = 'converted' then 1 else 0 end,
           case when new.status = 'unqualified' then 1 else 0 end
    from (
        select 'all' as field, '' as value
        union all select 'source', coalesce(new.source, '')
        union all select 'industry', coalesce(new.industry, '')
        union all select 'employee_band', case
            when new.employee_count between 1 and 10 then '1-10'
            when new.employee_count between 11 and 50 then '11-50'
            when new.employee_count between 51 and 200 then '51-200'
            when new.employee_count between 201 and 1000 then '201-1000'
            when new.employee_count between 1001 and 5000 then '1001-5000'
            when new.employee_count > 5000 then '5001+'
            else ''
        end
        union all select 'country', coalesce(new.country, '')
        union all select 'email_domain_kind', coalesce(new.email_domain_kind, '')
    ) as f
    where new.deleted_at is null and new.status in ('converted', 'unqualified')
    on conflict (organization_id, field, value) do update
    set successes = successes + excluded.successes, failures = failures + excluded.failures;
end;

create trigger leads_count_outcomes_delete after delete on leads
when old.deleted_at is null and old.status in ('converted', 'unqualified')
begin
    insert into lead_outcome_counts (organization_id, field, value, successes, failures)
    select old.organization_id, f.field, f.value,
           case when old.status = 'converted' then -1 else 0 end,
           case when old.status = 'unqualified' then -1 else 0 end
    from (
        select 'all' as field, '' as value
        union all select 'source', coalesce(old.source, '')
        union all select 'industry', coalesce(old.industry, '')
        union all select 'employee_band', case
            when old.employee_count between 1 and 10 then '1-10'
            when old.employee_count between 11 and 50 then '11-50'
            when old.employee_count between 51 and 200 then '51-200'
            when old.employee_count between 201 and 1000 then '201-1000'
            when old.employee_count between 1001 and 5000 then '1001-5000'
            when old.employee_count > 5000 then '5001+'
            else ''
        end
        union all select 'country', coalesce(old.country, '')
        union all select 'email_domain_kind', coalesce(old.email_domain_kind, '')
    ) as f
    where true
    on conflict (organization_id, field, value) do update
    set successes = successes + excluded.successes, failures = failures + excluded.failures;
end;

insert into lead_outcome_counts (organization_id, field, value, successes, failures)
select organization_id, field, value,
       sum(case when status = 'converted' then 1 else 0 end), sum(case when status = 'unqualified' then 1 else 0 end)
from (
    select organization_id, status, 'all' as field, '' as value from leads where deleted_at is null and status in ('converted', 'unqualified')
    union all select organization_id, status, 'source' as field, coalesce(source, '') as value from leads where deleted_at is null and status in ('converted', 'unqualified')
    union all select organization_id, status, 'industry' as field, coalesce(industry, '') as value from leads where deleted_at is null and status in ('converted', 'unqualified')
    union all select organization_id, status, 'employee_band' as field, case
        when employee_count between 1 and 10 then '1-10'
        when employee_count between 11 and 50 then '11-50'
        when employee_count between 51 and 200 then '51-200'
        when employee_count between 201 and 1000 then '201-1000'
        when employee_count between 1001 and 5000 then '1001-5000'
        when employee_count > 5000 then '5001+'
        else ''
    end as value from leads where deleted_at is null and status in ('converted', 'unqualified')
    union all select organization_id, status, 'country' as field, coalesce(country, '') as value from leads where deleted_at is null and status in ('converted', 'unqualified')
    union all select organization_id, status, 'email_domain_kind' as field, coalesce(email_domain_kind, '') as value from leads where deleted_at is null and status in ('converted', 'unqualified')
) as f
group by organization_id, field, value;

-- What a lead source cost in a calendar month (`YYYY-MM`), entered by hand.
create table source_spend (
    organization_id blob not null references organizations (id),
    source text not null,
    month text not null,
    amount_minor integer not null check (amount_minor >= 0),
    currency text not null,
    created_at text not null,
    updated_at text not null,
    primary key (organization_id, source, month)
);
