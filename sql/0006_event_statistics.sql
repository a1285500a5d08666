-- 0006_event_statistics: no planner statistics for the raw payload of klaviyo_events
--
-- raw_data is Klaviyo's event as received, kept for reprocessing: no dashboard query filters,
-- joins or groups on it, so its statistics are never used. Gathering them is not free:
-- autovacuum re-ANALYZEs the chunk being written again and again while it fills, and each
-- ANALYZE sorts and compares up to 300 x statistics_target JSONB documents of ~350 bytes for
-- this column (measured in the benchmark: the ANALYZE of the chunk being written is what made
-- ingest slower, bench/results/findings.md). properties keeps its statistics: the estimate of
-- `properties @> ...` (matchingsel) tests the filter against the sampled histogram.
--
-- TimescaleDB copies attstattarget to every chunk, existing and created later (checked on
-- 2.19.3), so this one statement covers the whole hypertable.

SET ROLE :"app_user";

ALTER TABLE klaviyo_events ALTER COLUMN raw_data SET STATISTICS 0;
