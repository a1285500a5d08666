-- 0004_aggregated_metrics: klaviyo_aggregated_metrics, hourly and daily per metric, kept filled
--
-- What the dashboard reads, on either TimescaleDB build: klaviyo_aggregated_metrics with the
-- columns (metric_id, time_bucket, bucket_size, count, sum_value, min_value, max_value,
-- avg_value), bucket_size '1 hour' or '1 day', one row per metric and bucket that has events.
-- Every row equals this GROUP BY over klaviyo_events (buckets by time_bucket(), aligned to UTC):
--   count(*), coalesce(sum(value), 0)::numeric(18,2), min(value), max(value),
--   round(avg(value), 2)::numeric(12,2)
-- count is BIGINT and sum_value NUMERIC(18,2), wider than the documents' INTEGER and
-- DECIMAL(12,2): a day's sum of DECIMAL(12,2) values can exceed DECIMAL(12,2).
--
-- How it is kept filled depends on the build, decided once below by the license:
-- * 'timescale' (Community): two continuous aggregates (hourly, daily) on klaviyo_events with
--   refresh policies, and klaviyo_aggregated_metrics is a view over both. Real-time
--   (materialized_only = false): buckets not yet materialized are computed from the events.
-- * 'apache' (Debian's postgresql-17-timescaledb): continuous aggregates do not exist there.
--   klaviyo_aggregated_metrics is the documents' table, a hypertable on time_bucket, and
--   refresh_klaviyo_aggregated_metrics(window_start, window_end) recomputes every hourly and
--   daily bucket overlapping the window, idempotently (upsert on the primary key, delete of
--   buckets left without events). 0005 schedules the recent window; a backfill calls it for the
--   backfilled range, as refresh_continuous_aggregate() would be called on Community.
-- Like a continuous aggregate refresh, a refresh over a window whose events have been dropped
-- by retention empties it: the scheduled window is the last 3 days only.

SET ROLE :"app_user";

SET tsdb.chunk_interval = :'chunk_interval';
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        RAISE NOTICE 'klaviyo_aggregated_metrics: license timescale, continuous aggregates';
        -- Continuous aggregates are created empty (WITH NO DATA: creating WITH DATA cannot run
        -- in a transaction); the refresh policies and real-time aggregation fill them. Each gets
        -- TimescaleDB's automatic index on (metric_id, time_bucket DESC) (create_group_indexes),
        -- which is the documents' "recent metrics" index without its invalid NOW() predicate.
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW klaviyo_aggregated_metrics_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT metric_id,
                   time_bucket(INTERVAL '1 hour', "timestamp") AS time_bucket,
                   count(*) AS count,
                   coalesce(sum(value), 0)::numeric(18, 2) AS sum_value,
                   min(value) AS min_value,
                   max(value) AS max_value,
                   round(avg(value), 2)::numeric(12, 2) AS avg_value
            FROM klaviyo_events
            GROUP BY metric_id, time_bucket(INTERVAL '1 hour', "timestamp")
            WITH NO DATA
        $sql$;
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW klaviyo_aggregated_metrics_daily
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT metric_id,
                   time_bucket(INTERVAL '1 day', "timestamp") AS time_bucket,
                   count(*) AS count,
                   coalesce(sum(value), 0)::numeric(18, 2) AS sum_value,
                   min(value) AS min_value,
                   max(value) AS max_value,
                   round(avg(value), 2)::numeric(12, 2) AS avg_value
            FROM klaviyo_events
            GROUP BY metric_id, time_bucket(INTERVAL '1 day', "timestamp")
            WITH NO DATA
        $sql$;
        -- The dashboard's one name for both. A query with bucket_size = '1 hour' plans only
        -- the hourly branch (the other's constant fails the filter at plan time).
        EXECUTE $sql$
            CREATE VIEW klaviyo_aggregated_metrics AS
            SELECT metric_id, time_bucket, '1 hour'::varchar(10) AS bucket_size, count,
                   sum_value, min_value::numeric(12, 2) AS min_value,
                   max_value::numeric(12, 2) AS max_value, avg_value
            FROM klaviyo_aggregated_metrics_hourly
            UNION ALL
            SELECT metric_id, time_bucket, '1 day'::varchar(10) AS bucket_size, count,
                   sum_value, min_value::numeric(12, 2) AS min_value,
                   max_value::numeric(12, 2) AS max_value, avg_value
            FROM klaviyo_aggregated_metrics_daily
        $sql$;
        -- Materialize the last 3 days, up to the last complete hour: the same window the
        -- Apache build's scheduled refresh covers (0005). Late events older than that are
        -- materialized by an explicit refresh_continuous_aggregate() call.
        PERFORM add_continuous_aggregate_policy('klaviyo_aggregated_metrics_hourly',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '30 minutes');
        PERFORM add_continuous_aggregate_policy('klaviyo_aggregated_metrics_daily',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour');
    ELSE
        RAISE NOTICE 'klaviyo_aggregated_metrics: license %, no continuous aggregates: '
            'hypertable filled by refresh_klaviyo_aggregated_metrics()',
            coalesce(current_setting('timescaledb.license', true), 'unknown');
        -- The documents' table, primary key unchanged: it contains time_bucket, the only
        -- partitioning column, so it is valid on a hypertable; it is the refresh's conflict
        -- target. bucket_size is restricted to what the refresh writes.
        EXECUTE $sql$
            CREATE TABLE klaviyo_aggregated_metrics (
                metric_id VARCHAR(50) NOT NULL REFERENCES klaviyo_metrics (id),
                time_bucket TIMESTAMPTZ NOT NULL,
                bucket_size VARCHAR(10) NOT NULL CHECK (bucket_size IN ('1 hour', '1 day')),
                count BIGINT NOT NULL,
                sum_value NUMERIC(18, 2) NOT NULL,
                min_value NUMERIC(12, 2),
                max_value NUMERIC(12, 2),
                avg_value NUMERIC(12, 2),
                PRIMARY KEY (metric_id, time_bucket, bucket_size)
            )
        $sql$;
        -- Chunks 10x the events' interval (what TimescaleDB gives a continuous aggregate's
        -- materialization): ~25 rows per metric and day is too little for events-sized chunks.
        PERFORM create_hypertable('klaviyo_aggregated_metrics',
            by_range('time_bucket', 10 * current_setting('tsdb.chunk_interval')::interval),
            create_default_indexes => false);
        -- Dashboard: recent aggregated metrics (WHERE metric_id = $1 AND bucket_size = '1 hour'
        -- AND time_bucket >= now() - INTERVAL '30 days' ORDER BY time_bucket DESC), answered
        -- from the index alone. Corrected from the documents: their predicate
        -- WHERE time_bucket > NOW() - INTERVAL '30 days' is rejected (an index predicate must
        -- be immutable), and would be wrong if it were not (it would freeze at creation time).
        -- "Recent" comes from chunk exclusion on time_bucket instead; bucket_size is a key
        -- column so one bucket size is read without filtering the other.
        EXECUTE $sql$
            CREATE INDEX idx_klaviyo_aggregated_metrics_recent
                ON klaviyo_aggregated_metrics (metric_id, bucket_size, time_bucket DESC)
                INCLUDE (count, sum_value, min_value, max_value, avg_value)
        $sql$;
        EXECUTE $sql$
            CREATE FUNCTION refresh_klaviyo_aggregated_metrics(
                window_start timestamptz, window_end timestamptz)
            RETURNS bigint
            LANGUAGE plpgsql
            SET search_path = public, pg_temp
            AS $fn$
            DECLARE
                bucket interval;
                label varchar(10);
                lower_bound timestamptz;
                upper_bound timestamptz;
                changed bigint;
                total bigint := 0;
            BEGIN
                IF window_start IS NULL OR window_end IS NULL OR window_start >= window_end THEN
                    RAISE EXCEPTION 'refresh_klaviyo_aggregated_metrics: need window_start < '
                        'window_end, got [%, %)', window_start, window_end;
                END IF;
                -- One refresh at a time: two concurrent upserts of the same buckets could
                -- deadlock. Held until the caller's transaction ends.
                PERFORM pg_advisory_xact_lock(hashtext('refresh_klaviyo_aggregated_metrics'));
                FOREACH label IN ARRAY ARRAY['1 hour', '1 day']::varchar(10)[] LOOP
                    bucket := label::interval;
                    -- Every bucket that overlaps [window_start, window_end), whole.
                    lower_bound := time_bucket(bucket, window_start);
                    upper_bound := time_bucket(bucket, window_end - INTERVAL '1 microsecond')
                        + bucket;
                    -- Buckets whose events are gone (deleted or corrected away).
                    DELETE FROM klaviyo_aggregated_metrics a
                    WHERE a.bucket_size = label
                      AND a.time_bucket >= lower_bound AND a.time_bucket < upper_bound
                      AND NOT EXISTS (
                          SELECT 1 FROM klaviyo_events e
                          WHERE e.metric_id = a.metric_id
                            AND e."timestamp" >= a.time_bucket
                            AND e."timestamp" < a.time_bucket + bucket);
                    GET DIAGNOSTICS changed = ROW_COUNT;
                    total := total + changed;
                    -- The same expressions as the continuous aggregates on Community.
                    INSERT INTO klaviyo_aggregated_metrics AS a (metric_id, time_bucket,
                        bucket_size, count, sum_value, min_value, max_value, avg_value)
                    SELECT metric_id,
                           time_bucket(bucket, "timestamp"),
                           label,
                           count(*),
                           coalesce(sum(value), 0)::numeric(18, 2),
                           min(value),
                           max(value),
                           round(avg(value), 2)::numeric(12, 2)
                    FROM klaviyo_events
                    WHERE "timestamp" >= lower_bound AND "timestamp" < upper_bound
                    GROUP BY metric_id, time_bucket(bucket, "timestamp")
                    ON CONFLICT (metric_id, time_bucket, bucket_size) DO UPDATE
                    SET count = excluded.count,
                        sum_value = excluded.sum_value,
                        min_value = excluded.min_value,
                        max_value = excluded.max_value,
                        avg_value = excluded.avg_value
                    -- Unchanged buckets are not rewritten (no dead tuples, no WAL).
                    WHERE (a.count, a.sum_value, a.min_value, a.max_value, a.avg_value)
                        IS DISTINCT FROM (excluded.count, excluded.sum_value, excluded.min_value,
                                          excluded.max_value, excluded.avg_value);
                    GET DIAGNOSTICS changed = ROW_COUNT;
                    total := total + changed;
                END LOOP;
                RETURN total;
            END
            $fn$
        $sql$;
        EXECUTE $sql$
            COMMENT ON FUNCTION refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz) IS
            'Recompute the hourly and daily rows of klaviyo_aggregated_metrics for every bucket '
            'overlapping [window_start, window_end) from klaviyo_events; idempotent. Returns '
            'the number of rows inserted, changed or deleted.'
        $sql$;
        -- Only the owner (and the scheduler running as it, or the superuser) refreshes.
        EXECUTE $sql$
            REVOKE EXECUTE ON FUNCTION refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz)
            FROM PUBLIC
        $sql$;
    END IF;
END
$$;
