-- 0007_aggregate_serving: the dashboard's series and per-metric counts served from the aggregates
--
-- Two functions give exactly what a GROUP BY over klaviyo_events gives, but read
-- klaviyo_aggregated_metrics wherever its buckets are complete and the raw events only for the
-- rest (the edges of a range that does not start or end on a bucket, and the tail after the
-- last refresh):
--   klaviyo_metric_series(metric, bucket_size, range_start, range_end)
--     = SELECT time_bucket(bucket_size, "timestamp"), count(*), sum(value) FROM klaviyo_events
--       WHERE metric_id = metric AND "timestamp" >= range_start AND "timestamp" < range_end
--       GROUP BY 1 ORDER BY 1             (bucket_size '1 hour' or '1 day')
--   klaviyo_events_per_metric(range_start, range_end)
--     = SELECT metric_id, count(*) FROM klaviyo_events WHERE "timestamp" >= range_start
--       AND "timestamp" < range_end GROUP BY 1 ORDER BY 2 DESC, 1
-- Measured in the benchmark on 1M events: 75-94% less time than the GROUP BY
-- (bench/results/findings.md). A day is read from its daily row, a partial day from its hourly
-- rows, so a 90-day count reads ~90 rows per metric instead of every event.
--
-- What "complete" means, on each build:
-- * 'timescale' (Community): klaviyo_aggregated_metrics is a view over real-time continuous
--   aggregates, complete for every bucket (TimescaleDB adds the events after its own
--   watermark), so the functions read every whole bucket from it.
-- * 'apache': refresh_klaviyo_aggregated_metrics() records in klaviyo_aggregates_watermark up
--   to when every event had been aggregated (complete_until). It advances only when a refresh
--   continues the range already complete (its window starts at or before complete_until) or
--   when no event precedes its window; a database holding events but no watermark (this
--   migration on a host with data) is served from the raw events, correct but slower, until
--   one refresh covers all of them:
--     SELECT refresh_klaviyo_aggregated_metrics(<the first event's time>, now());
-- As with continuous aggregates, an event inserted, changed or deleted before complete_until
-- after the refresh that covered its bucket (late events older than the hourly maintenance's
-- 3-day window, a backfill) is seen by these functions after the next refresh covering it:
-- a backfill calls refresh_klaviyo_aggregated_metrics() for its range (0004 says so too). And
-- as with retention on Community, aggregates outlive the events that retention drops.

SET ROLE :"app_user";

DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        -- Real-time continuous aggregates: every whole bucket is complete.
        EXECUTE $sql$
            CREATE FUNCTION klaviyo_aggregates_complete_until() RETURNS timestamptz
            LANGUAGE sql STABLE
            AS $fn$ SELECT 'infinity'::timestamptz $fn$
        $sql$;
    ELSE
        -- One row: every event before complete_until is in klaviyo_aggregated_metrics.
        EXECUTE $sql$
            CREATE TABLE klaviyo_aggregates_watermark (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                complete_until timestamptz NOT NULL,
                refreshed_at timestamptz NOT NULL
            )
        $sql$;
        EXECUTE $sql$
            CREATE FUNCTION klaviyo_aggregates_complete_until() RETURNS timestamptz
            LANGUAGE sql STABLE
            SET search_path = public, pg_temp
            AS $fn$
                SELECT coalesce(
                    (SELECT complete_until FROM klaviyo_aggregates_watermark), '-infinity')
            $fn$
        $sql$;
        -- The refresh of 0004 keeps its work and its name for callers (maintenance, backfills);
        -- the new refresh_klaviyo_aggregated_metrics does that work, then moves the watermark.
        EXECUTE $sql$
            ALTER FUNCTION refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz)
            RENAME TO klaviyo_recompute_aggregates
        $sql$;
        EXECUTE $sql$
            CREATE FUNCTION refresh_klaviyo_aggregated_metrics(
                window_start timestamptz, window_end timestamptz)
            RETURNS bigint
            LANGUAGE plpgsql
            SET search_path = public, pg_temp
            AS $fn$
            DECLARE
                changed bigint;
                complete timestamptz;
                -- The refresh recomputes whole buckets, from the hour window_start falls in.
                first_bucket timestamptz := time_bucket(INTERVAL '1 hour', window_start);
            BEGIN
                -- Takes the refresh's advisory lock: refreshes, and so watermark moves, are
                -- serialised until this transaction ends.
                changed := klaviyo_recompute_aggregates(window_start, window_end);
                SELECT complete_until INTO complete FROM klaviyo_aggregates_watermark
                    FOR UPDATE;
                IF (complete IS NOT NULL AND first_bucket <= complete)
                   OR (complete IS NULL AND NOT EXISTS (
                       SELECT 1 FROM klaviyo_events WHERE "timestamp" < first_bucket)) THEN
                    INSERT INTO klaviyo_aggregates_watermark (complete_until, refreshed_at)
                    VALUES (window_end, now())
                    ON CONFLICT (only_row) DO UPDATE
                    SET complete_until = greatest(klaviyo_aggregates_watermark.complete_until,
                                                  excluded.complete_until),
                        refreshed_at = excluded.refreshed_at;
                END IF;
                RETURN changed;
            END
            $fn$
        $sql$;
        EXECUTE $sql$
            COMMENT ON FUNCTION refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz) IS
            'Recompute the hourly and daily rows of klaviyo_aggregated_metrics for every bucket '
            'overlapping [window_start, window_end) from klaviyo_events (idempotent), and move '
            'klaviyo_aggregates_watermark when the complete range now reaches window_end. '
            'Returns the number of rows inserted, changed or deleted.'
        $sql$;
        EXECUTE $sql$
            REVOKE EXECUTE ON FUNCTION refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz)
            FROM PUBLIC
        $sql$;
        IF EXISTS (SELECT 1 FROM klaviyo_events) THEN
            RAISE NOTICE 'klaviyo_aggregates_watermark: klaviyo_events holds events and no '
                'refresh has covered them all yet: klaviyo_metric_series() and '
                'klaviyo_events_per_metric() read raw events until '
                'SELECT refresh_klaviyo_aggregated_metrics(<first event time>, now()) runs once';
        END IF;
    END IF;
END
$$;

-- Where each source serves a range [range_start, range_end): whole hours in
-- [hour_from, hour_to) and whole days in [day_from, day_to) are complete in the aggregates
-- (day range inside the hour range, both empty where nothing is); the raw events serve
-- [range_start, hour_from) and [hour_to, range_end). Buckets are time_bucket()'s, in UTC.
CREATE FUNCTION klaviyo_aggregate_coverage(
    range_start timestamptz, range_end timestamptz,
    OUT hour_from timestamptz, OUT hour_to timestamptz,
    OUT day_from timestamptz, OUT day_to timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    complete timestamptz := klaviyo_aggregates_complete_until();
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start > range_end
       OR NOT isfinite(range_start) OR NOT isfinite(range_end) THEN
        RAISE EXCEPTION 'need finite range_start <= range_end, got [%, %)',
            range_start, range_end;
    END IF;
    -- The first whole hour at or after range_start; the end of the last whole hour that is
    -- both inside the range and complete.
    hour_from := time_bucket(INTERVAL '1 hour', range_start);
    IF hour_from < range_start THEN
        hour_from := hour_from + INTERVAL '1 hour';
    END IF;
    hour_to := time_bucket(INTERVAL '1 hour', range_end);
    IF complete = '-infinity' THEN
        hour_to := hour_from;
    ELSIF complete < range_end THEN
        hour_to := least(hour_to, time_bucket(INTERVAL '1 hour', complete));
    END IF;
    IF hour_to <= hour_from THEN
        hour_from := range_end;
        hour_to := range_end;
    END IF;
    -- Whole days inside the whole hours (complete: a day ends before hour_to <= complete).
    day_from := time_bucket(INTERVAL '1 day', hour_from);
    IF day_from < hour_from THEN
        day_from := day_from + INTERVAL '1 day';
    END IF;
    day_to := time_bucket(INTERVAL '1 day', hour_to);
    IF day_to <= day_from THEN
        day_from := hour_to;
        day_to := hour_to;
    END IF;
END
$$;

-- Each piece as its own range condition on the time column, so chunk exclusion and the
-- (metric_id, "timestamp") indexes cut every piece to its rows. The pieces do not overlap;
-- a bucket made of several (a day from hourly rows, an edge hour from raw events) is summed.
-- An aggregate row's sum is NULL when its bucket had no value (min_value is NULL then), as
-- sum(value) over those events would be.
CREATE FUNCTION klaviyo_metric_series(
    metric varchar, bucket_size varchar, range_start timestamptz, range_end timestamptz)
RETURNS TABLE (bucket timestamptz, events bigint, value_sum numeric)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    c record;
    width interval;
BEGIN
    SELECT * INTO c FROM klaviyo_aggregate_coverage(range_start, range_end);
    IF bucket_size NOT IN ('1 hour', '1 day') THEN
        RAISE EXCEPTION 'bucket_size must be ''1 hour'' or ''1 day'' (the aggregates'' '
            'buckets), not %', quote_nullable(bucket_size);
    END IF;
    width := bucket_size::interval;
    IF bucket_size = '1 hour' THEN  -- daily rows cannot make hours: hourly rows throughout
        c.day_from := c.hour_to;
        c.day_to := c.hour_to;
    END IF;
    RETURN QUERY EXECUTE $q$
        SELECT b, sum(n)::bigint, sum(s) FROM (
            SELECT time_bucket($2, a.time_bucket) AS b, a.count AS n,
                   CASE WHEN a.min_value IS NOT NULL THEN a.sum_value END AS s
            FROM klaviyo_aggregated_metrics a
            WHERE a.metric_id = $1 AND a.bucket_size = '1 day'
              AND a.time_bucket >= $7 AND a.time_bucket < $8
            UNION ALL
            SELECT time_bucket($2, a.time_bucket), a.count,
                   CASE WHEN a.min_value IS NOT NULL THEN a.sum_value END
            FROM klaviyo_aggregated_metrics a
            WHERE a.metric_id = $1 AND a.bucket_size = '1 hour'
              AND a.time_bucket >= $5 AND a.time_bucket < $7
            UNION ALL
            SELECT time_bucket($2, a.time_bucket), a.count,
                   CASE WHEN a.min_value IS NOT NULL THEN a.sum_value END
            FROM klaviyo_aggregated_metrics a
            WHERE a.metric_id = $1 AND a.bucket_size = '1 hour'
              AND a.time_bucket >= $8 AND a.time_bucket < $6
            UNION ALL
            SELECT time_bucket($2, e."timestamp"), count(*), sum(e.value)
            FROM klaviyo_events e
            WHERE e.metric_id = $1 AND e."timestamp" >= $3 AND e."timestamp" < $5
            GROUP BY 1
            UNION ALL
            SELECT time_bucket($2, e."timestamp"), count(*), sum(e.value)
            FROM klaviyo_events e
            WHERE e.metric_id = $1 AND e."timestamp" >= $6 AND e."timestamp" < $4
            GROUP BY 1
        ) pieces
        GROUP BY b
        ORDER BY b
    $q$ USING metric, width, range_start, range_end, c.hour_from, c.hour_to, c.day_from,
        c.day_to;
END
$$;
COMMENT ON FUNCTION klaviyo_metric_series(varchar, varchar, timestamptz, timestamptz) IS
    'One metric''s events and value sum per bucket (''1 hour'' or ''1 day'', UTC) over '
    '[range_start, range_end): the GROUP BY over klaviyo_events, read from the aggregates '
    'where complete.';

CREATE FUNCTION klaviyo_events_per_metric(range_start timestamptz, range_end timestamptz)
RETURNS TABLE (metric_id varchar, events bigint)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM klaviyo_aggregate_coverage(range_start, range_end);
    RETURN QUERY EXECUTE $q$
        SELECT m, sum(n)::bigint FROM (
            SELECT a.metric_id AS m, a.count AS n FROM klaviyo_aggregated_metrics a
            WHERE a.bucket_size = '1 day' AND a.time_bucket >= $5 AND a.time_bucket < $6
            UNION ALL
            SELECT a.metric_id, a.count FROM klaviyo_aggregated_metrics a
            WHERE a.bucket_size = '1 hour' AND a.time_bucket >= $3 AND a.time_bucket < $5
            UNION ALL
            SELECT a.metric_id, a.count FROM klaviyo_aggregated_metrics a
            WHERE a.bucket_size = '1 hour' AND a.time_bucket >= $6 AND a.time_bucket < $4
            UNION ALL
            SELECT e.metric_id, count(*) FROM klaviyo_events e
            WHERE e."timestamp" >= $1 AND e."timestamp" < $3
            GROUP BY 1
            UNION ALL
            SELECT e.metric_id, count(*) FROM klaviyo_events e
            WHERE e."timestamp" >= $4 AND e."timestamp" < $2
            GROUP BY 1
        ) pieces
        GROUP BY m
        ORDER BY 2 DESC, 1
    $q$ USING range_start, range_end, c.hour_from, c.hour_to, c.day_from, c.day_to;
END
$$;
COMMENT ON FUNCTION klaviyo_events_per_metric(timestamptz, timestamptz) IS
    'Events per metric over [range_start, range_end), most first: the GROUP BY over '
    'klaviyo_events, read from the aggregates where complete.';
