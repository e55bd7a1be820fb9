-- Predicted conversion (metrics.md, "Lead potential and predicted
-- conversion"): what the prediction reads of a lead, and the frequency
-- tables it learns from.

-- `business` or `free`, from the email address (the free-mail list lives in
-- the code, which writes this with the email); null without an email.
alter table leads add column email_domain_kind text check (email_domain_kind in ('business', 'free'));
-- When the lead was converted or disqualified; null while it is open.
alter table leads add column closed_at timestamptz;
update leads set closed_at = case status when 'converted' then converted_at else updated_at end
where status in ('converted', 'unqualified');
create index leads_closed_idx on leads (organization_id, closed_at) where closed_at is not null and deleted_at is null;

-- For each organization, field and value: how many closed leads (live,
-- converted or unqualified) had it. Field `all` (value '') holds the totals;
-- a missing value is ''. Kept by the triggers below in the transaction that
-- changes the lead, so the tables never disagree with the leads.
create table lead_outcome_counts (
    organization_id uuid not null references organizations (id),
    field text not null,
    value text not null,
    successes bigint not null,
    failures bigint not null,
    primary key (organization_id, field, value)
);

create function lead_employee_band(n bigint) returns text language sql immutable as $$
    select case
        when n between 1 and 10 then '1-10'
        when n between 11 and 50 then '11-50'
        when n between 51 and 200 then '51-200'
        when n between 201 and 1000 then '201-1000'
        when n between 1001 and 5000 then '1001-5000'
        when n > 5000 then '5001+'
        else ''
    end
$$;

-- The counts follow every statement that writes leads: a statement-level
-- trigger for each kind of write, over the rows it changed (transition tables),
-- adding the closed rows it wrote and taking back the closed rows it
-- replaced, grouped, so a bulk insert or a batch update touches each
-- count once. (A row-level trigger would update the same few rows once per
-- lead, and PostgreSQL rereads every earlier version of a row updated
-- repeatedly in one transaction: loading 100,000 leads took minutes.)
create function leads_count_outcomes() returns trigger language plpgsql as $$
declare
    changed text := case tg_op
        when 'INSERT' then 'select *, 1 as step from new_rows'
        when 'DELETE' then 'select *, -1 as step from old_rows'
        else 'select *, 1 as step from new_rows union all select *, -1 from old_rows'
    end;
begin
    execute format($sql$
        insert into lead_outcome_counts (organization_id, field, value, successes, failures)
        select l.organization_id, f.field, f.value,
               sum(case when l.status = 'converted' then l.step else 0 end),
               sum(case when l.status = 'unqualified' then l.step else 0 end)
        from (%s) as l
        cross join lateral (values
            ('all', ''),
            ('source', coalesce(l.source, '')),
            ('industry', coalesce(l.industry, '')),
            ('employee_band', lead_employee_band(l.employee_count)),
            ('country', coalesce(l.country, '')),
            ('email_domain_kind', coalesce(l.email_domain_kind, ''))
        ) as f (field, value)
        where l.deleted_at is null and l.status in ('converted', 'unqualified')
        group by l.organization_id, f.field, f.value
        having sum(case when l.status = 'converted' then l.step else 0 end) <> 0
            or sum(case when l.status = 'unqualified' then l.step else 0 end) <> 0
        -- One lock order for every writer, so two transactions never deadlock.
        order by l.organization_id, f.field, f.value
        on conflict (organization_id, field, value) do update
        set successes = lead_outcome_counts.successes + excluded.successes,
            failures = lead_outcome_counts.failures + excluded.failures
    $sql$, changed);
    return null;
end
$$;

create trigger leads_count_outcomes_insert after insert on leads
referencing new table as new_rows
for each statement execute function leads_count_outcomes();
create trigger leads_count_outcomes_update after update on leads
referencing old table as old_rows new table as new_rows
for each statement execute function leads_count_outcomes();
create trigger leads_count_outcomes_delete after delete on leads
referencing old table as old_rows
for each statement execute function leads_count_outcomes();

insert into lead_outcome_counts (organization_id, field, value, successes, failures)
select organization_id, field, value,
       count(*) filter (where status = 'converted'), count(*) filter (where status = 'unqualified')
from leads
cross join lateral (values
    ('all', ''),
    ('source', coalesce(source, '')),
    ('industry', coalesce(industry, '')),
    ('employee_band', lead_employee_band(employee_count)),
    ('country', coalesce(country, '')),
    ('email_domain_kind', coalesce(email_domain_kind, ''))
) as f (field, value)
where deleted_at is null and status in ('converted', 'unqualified')
group by organization_id, field, value;

-- What a lead source cost in a calendar month (`YYYY-MM`), entered by hand.
create table source_spend (
    organization_id uuid not null references organizations (id),
    source text not null,
    month text not null,
    amount_minor bigint not null check (amount_minor >= 0),
    currency text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (organization_id, source, month)
);
