-- 0005_lifecycle_policies: compression and retention of events, and their Apache-build fallback
--
-- Decided once by the license, as in 0004:
-- * 'timescale' (Community): TimescaleDB's own jobs. klaviyo_events is compressed after
--   :compress_after and its chunks dropped after :retention; the continuous aggregates are
--   compressed after :compress_after too (the documents' compression of the aggregates) and
--   kept (no retention: a few rows per metric and hour).
-- * 'apache' (Debian's build): compression does not exist there, and neither do
--   add_retention_policy or add_job (both fail with "function ... is not supported under the
--   current "apache" license", checked on 2.19.3), so TimescaleDB cannot schedule anything.
--   klaviyo_run_maintenance() does the scheduled work instead (refresh of the last 3 days of
--   aggregates, drop_chunks for retention). It is scheduled with pg_cron when that extension is
--   installed in this database; otherwise the host calls it (hourly, e.g. a systemd timer
--   running: tsdb-psql -c 'SELECT klaviyo_run_maintenance()'), and a NOTICE says so.

SET ROLE :"app_user";

SET tsdb.compress_after = :'compress_after';
SET tsdb.retention = :'retention';
-- Fail here, not in a job months later, if either is not an interval.
SELECT :'compress_after'::interval AS compress_after, :'retention'::interval AS retention;

-- Retention as a function, on both builds: drop every klaviyo_events chunk whose data is all
-- older than now() - drop_after (TimescaleDB's drop_chunks: whole chunks only, so data lives up
-- to one chunk interval longer). Returns the dropped chunks. The default is :retention.
SELECT format($sql$
    CREATE FUNCTION klaviyo_drop_expired_events(drop_after interval DEFAULT %L)
    RETURNS SETOF text
    LANGUAGE sql
    SET search_path = public, pg_temp
    AS $fn$ SELECT drop_chunks('klaviyo_events', older_than => drop_after)::text $fn$
$sql$, :'retention'::interval)
\gexec
COMMENT ON FUNCTION klaviyo_drop_expired_events(interval) IS
    'Retention of klaviyo_events: drop its chunks older than drop_after; returns their names.';
REVOKE EXECUTE ON FUNCTION klaviyo_drop_expired_events(interval) FROM PUBLIC;

DO $$
DECLARE
    compress_after interval := current_setting('tsdb.compress_after')::interval;
    retention interval := current_setting('tsdb.retention')::interval;
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        -- Segment by metric_id: the dashboard reads old data per metric (series by time
        -- bucket), so a query decompresses only its metric's segments, and tens to hundreds of
        -- metrics give segments of thousands of rows (compresses well). profile_id would give
        -- segments of a few rows; profile lookups on compressed chunks use the sparse (bloom)
        -- index TimescaleDB builds from idx_klaviyo_events_profile_timestamp
        -- (timescaledb.auto_sparse_indexes). Order by time, newest first, as the dashboard
        -- reads; then id, so that every primary key column is a segmentby or orderby column
        -- (batch min/max metadata lets the key's uniqueness check and a lookup by id skip
        -- batches instead of decompressing the whole segment).
        EXECUTE $sql$
            ALTER TABLE klaviyo_events SET (
                timescaledb.compress,
                timescaledb.compress_segmentby = 'metric_id',
                timescaledb.compress_orderby = '"timestamp" DESC, id')
        $sql$;
        PERFORM add_compression_policy('klaviyo_events', compress_after => compress_after);
        PERFORM add_retention_policy('klaviyo_events', drop_after => retention);
        -- The aggregates: segmented by their group column (metric_id) by default.
        EXECUTE $sql$
            ALTER MATERIALIZED VIEW klaviyo_aggregated_metrics_hourly
            SET (timescaledb.compress = true)
        $sql$;
        EXECUTE $sql$
            ALTER MATERIALIZED VIEW klaviyo_aggregated_metrics_daily
            SET (timescaledb.compress = true)
        $sql$;
        PERFORM add_compression_policy('klaviyo_aggregated_metrics_hourly',
            compress_after => compress_after);
        PERFORM add_compression_policy('klaviyo_aggregated_metrics_daily',
            compress_after => compress_after);
        RAISE NOTICE 'lifecycle: license timescale: klaviyo_events compressed after % and '
            'dropped after % by TimescaleDB policies; aggregates compressed after %',
            compress_after, retention, compress_after;
    ELSE
        RAISE NOTICE 'lifecycle: license %: compression is not available on this build '
            '(klaviyo_events stays uncompressed); retention (%) and the aggregate refresh '
            'run through klaviyo_run_maintenance()',
            coalesce(current_setting('timescaledb.license', true), 'unknown'), retention;
    END IF;
END
$$;

-- The scheduled work, one entry point on both builds. Apache: refresh the aggregates' last 3
-- days (the continuous aggregates' policy window on Community) and apply retention. Community:
-- TimescaleDB's jobs do both, so it does nothing; a timer calling it everywhere is harmless.
-- Returns a one-line summary for the caller's log.
CREATE FUNCTION klaviyo_run_maintenance() RETURNS text
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    refreshed bigint;
    dropped text[];
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        RETURN 'nothing to do: TimescaleDB policies refresh, compress and drop';
    END IF;
    EXECUTE 'SELECT refresh_klaviyo_aggregated_metrics($1, $2)'
        INTO refreshed USING now() - INTERVAL '3 days', now();
    dropped := ARRAY(SELECT klaviyo_drop_expired_events());
    RETURN format('aggregates: %s rows refreshed; retention: %s chunks dropped%s',
        refreshed, cardinality(dropped),
        CASE WHEN cardinality(dropped) BETWEEN 1 AND 3
                 THEN ' (' || array_to_string(dropped, ', ') || ')'
             WHEN cardinality(dropped) > 3
                 THEN format(' (%s, ..., %s)', dropped[1], dropped[cardinality(dropped)])
             ELSE '' END);
END
$$;
COMMENT ON FUNCTION klaviyo_run_maintenance() IS
    'Hourly maintenance on the Apache build (aggregate refresh of the last 3 days, retention); '
    'a no-op where TimescaleDB policies exist.';
REVOKE EXECUTE ON FUNCTION klaviyo_run_maintenance() FROM PUBLIC;

-- Scheduling on the Apache build: pg_cron, when installed in this database (it can only be
-- installed in the database named by cron.database_name), runs the maintenance hourly as the
-- application role. Needs the superuser to schedule for another role.
RESET ROLE;
SET tsdb.app_user = :'app_user';
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        RETURN;
    ELSIF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM cron.schedule_in_database('klaviyo_run_maintenance', '17 * * * *',
            'SELECT klaviyo_run_maintenance()', current_database(),
            current_setting('tsdb.app_user'));
        RAISE NOTICE 'lifecycle: klaviyo_run_maintenance() scheduled hourly with pg_cron';
    ELSE
        RAISE NOTICE 'lifecycle: no in-database scheduler (TimescaleDB jobs need the timescale '
            'license, pg_cron is not installed here): the host must run '
            'SELECT klaviyo_run_maintenance() hourly';
    END IF;
END
$$;
