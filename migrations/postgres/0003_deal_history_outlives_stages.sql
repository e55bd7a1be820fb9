-- A deal's event log is history: it names the pipelines and stages the deal
-- passed through, and must outlive them. Deleting a stage (its deals moved
-- elsewhere) or an emptied pipeline would otherwise fail on these references.
alter table deal_events drop constraint deal_events_pipeline_id_fkey;
alter table deal_events drop constraint deal_events_stage_id_fkey;
alter table deal_events drop constraint deal_events_from_stage_id_fkey;
