-- 0008_plain_aggregates_table: on the Apache build, klaviyo_aggregated_metrics becomes a plain table
--
-- Why: the table is small (two bucket sizes, ~25 rows per metric and day: ~450k rows a year
-- for 50 metrics) and is never dropped by chunk (no retention on the aggregates, 0005), so
-- being a hypertable buys nothing, and it costs every fresh connection: the first query that
-- touches a hypertable in a backend reads TimescaleDB's catalog (hypertable, dimension, slices,
-- chunks) before planning. Measured in the benchmark (bench/results/experiments-run3.json):
-- the dashboard's "recent aggregated metrics" on a fresh connection took 11-17 ms from the
-- hypertable against 5-6 ms for the same rows from a plain table. Warm, the index-only scan is
-- the same on both. The refresh, maintenance and serving functions (0004, 0005, 0007) name the
-- table in PL/pgSQL and dynamic SQL, resolved when they run, so they need no change.
--
-- Community build: klaviyo_aggregated_metrics is a view over continuous aggregates (0004),
-- which are hypertables by TimescaleDB's design; nothing changes there.
--
-- How: in this migration's transaction, with the refresh's advisory lock (no refresh runs
-- meanwhile) and the table locked against readers and writers for the copy (seconds for a
-- year of aggregates): the rows are copied aside, the hypertable dropped, the table created
-- again as plain with the same columns, keys, check and index as 0004's, the rows put back
-- (their count checked), and every grant the old table had given again. Any error rolls all of
-- it back. A view or other object an operator built on the table makes DROP fail (no CASCADE):
-- the deploy stops with PostgreSQL's message and nothing changes.

SET ROLE :"app_user";

DO $$
DECLARE
    old regclass := to_regclass('klaviyo_aggregated_metrics');
    grants text[];
    copied bigint;
    restored bigint;
    statement text;
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        RAISE NOTICE 'klaviyo_aggregated_metrics: license timescale, continuous aggregates kept';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                   WHERE hypertable_schema = 'public'
                     AND hypertable_name = 'klaviyo_aggregated_metrics') THEN
        RAISE NOTICE 'klaviyo_aggregated_metrics: already a plain table';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('refresh_klaviyo_aggregated_metrics'));
    LOCK TABLE klaviyo_aggregated_metrics IN ACCESS EXCLUSIVE MODE;

    -- The grants beyond the owner's own, as statements to give them again.
    SELECT array_agg(format('GRANT %s ON klaviyo_aggregated_metrics TO %s%s',
                            a.privilege_type,
                            CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                 ELSE quote_ident(a.grantee::regrole::text) END,
                            CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
    INTO grants
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = old AND a.grantee <> c.relowner;

    CREATE TEMPORARY TABLE klaviyo_aggregated_metrics_copy ON COMMIT DROP AS
        SELECT * FROM klaviyo_aggregated_metrics;
    GET DIAGNOSTICS copied = ROW_COUNT;
    DROP TABLE klaviyo_aggregated_metrics;

    -- 0004's table and index, unchanged but for not being a hypertable.
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
    );
    -- "Recent" is the index's range on time_bucket (no chunks to exclude any more).
    CREATE INDEX idx_klaviyo_aggregated_metrics_recent
        ON klaviyo_aggregated_metrics (metric_id, bucket_size, time_bucket DESC)
        INCLUDE (count, sum_value, min_value, max_value, avg_value);
    COMMENT ON TABLE klaviyo_aggregated_metrics IS
        'Hourly and daily aggregates of klaviyo_events per metric, kept by '
        'refresh_klaviyo_aggregated_metrics(); a plain table on the Apache build (0008).';

    INSERT INTO klaviyo_aggregated_metrics
        SELECT * FROM klaviyo_aggregated_metrics_copy
        ORDER BY metric_id, time_bucket, bucket_size;
    GET DIAGNOSTICS restored = ROW_COUNT;
    IF restored <> copied THEN
        RAISE EXCEPTION 'klaviyo_aggregated_metrics: % rows copied aside but % put back',
            copied, restored;
    END IF;
    FOREACH statement IN ARRAY coalesce(grants, '{}') LOOP
        EXECUTE statement;
    END LOOP;
    -- Statistics now, not at autovacuum's next visit: the dashboard plans on them at once.
    ANALYZE klaviyo_aggregated_metrics;
    RAISE NOTICE 'klaviyo_aggregated_metrics: rebuilt as a plain table, % rows kept', restored;
END
$$;
