-- Deals sorted by -expected_close_date list undated deals last, as the
-- ascending sort does: a backward scan of the ascending index would put them
-- first, so the descending order gets an index of its own.
create index deals_close_date_desc_idx on deals (organization_id, expected_close_date desc nulls last, id desc)
    where deleted_at is null;
