-- Deals sorted by -expected_close_date list undated deals last. SQLite orders
-- nulls first ascending, so a descending index already ends with them.
create index deals_close_date_desc_idx on deals (organization_id, expected_close_date desc, id desc)
    where deleted_at is null;
