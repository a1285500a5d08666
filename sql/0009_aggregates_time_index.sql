-- 0009_aggregates_time_index: the plain aggregates table read by time across every metric
--
-- Why: since 0008 (Apache build) klaviyo_aggregated_metrics is a plain table, and both its
-- indexes lead with metric_id. What reads a time range across all metrics found no index and
-- scanned the whole table, which grows by ~450k rows a year for 50 metrics:
--   * klaviyo_events_per_metric() (0007): the daily and hourly rows of its range;
--   * the refresh (0004, hourly through klaviyo_run_maintenance): its DELETE of the buckets
--     of its window whose events are gone, once per bucket size.
-- (bucket_size, time_bucket) bounds both to their range; INCLUDE (metric_id, count) answers
-- the per-metric counts from the index alone. Measured on the benchmark's data (1M events,
-- 184k aggregate rows; bench/results/experiments-run5.json, "aggregates_time_index"): events
-- per metric over 90 days 18.6 -> 1.3 ms warm, 48.5 -> 23.8 ms cold (p50); the refresh the
-- same (its time is recomputing the window from the events); the index 9 MB.
--
-- Community build: klaviyo_aggregated_metrics is a view over continuous aggregates (0004),
-- hypertables whose chunks are excluded by time_bucket; nothing changes there.
--
-- On a live host the build holds a SHARE lock on the table (reads go on, a refresh waits):
-- well under a second for a year of aggregates.

SET ROLE :"app_user";

DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        RAISE NOTICE 'klaviyo_aggregated_metrics: license timescale, continuous aggregates '
            'are read by time through their chunks';
        RETURN;
    END IF;
    -- Per-metric counts and the refresh's DELETE: a time range across every metric.
    EXECUTE $sql$
        CREATE INDEX idx_klaviyo_aggregated_metrics_time
            ON klaviyo_aggregated_metrics (bucket_size, time_bucket)
            INCLUDE (metric_id, count)
    $sql$;
END
$$;
