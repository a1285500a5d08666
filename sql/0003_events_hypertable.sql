-- 0003_events_hypertable: klaviyo_events as a hypertable on "timestamp", with its indexes
--
-- Sized by the deploy: :chunk_interval comes from tsdb_deploy/planner/chunks.py (the chunk whose
-- indexes are being written should fit in shared_buffers); :space_partitions adds a hash
-- dimension on metric_id when > 0.

SET ROLE :"app_user";

-- Primary key (id, "timestamp", metric_id): a unique index on a hypertable must contain every
-- partitioning column, so the documents' PRIMARY KEY (id) cannot exist. "timestamp" is the time
-- dimension; metric_id is in it too so that the key is valid with or without the optional space
-- dimension, and so the ingest's conflict target, ON CONFLICT (id, "timestamp", metric_id)
-- DO NOTHING, is the same on every host. A Klaviyo event never changes its time or metric, so
-- this is unique exactly when the event id is. id leads: lookup of one event by id.
--
-- Foreign keys (a calibration measured both checks at ~20% of COPY ingest):
-- * metric_id -> klaviyo_metrics is kept: the referenced table is tiny and always cached, so its
--   check is the cheap half, and a series whose metric is unknown is useless to the dashboard
--   (its name, the aggregates' foreign key in 0004).
-- * profile_id -> klaviyo_profiles is NOT enforced. The profile table is large (millions of
--   rows), so each check is a probe into a big index that competes with the chunk's own indexes
--   for shared_buffers; Klaviyo's events and profiles come from separate API syncs, so an event
--   can legitimately arrive before its profile, and an enforced key would make ingest order-
--   dependent or reject it; and a profile deleted in Klaviyo (privacy request) would need a
--   cascade over two years of chunks. Orphans are found, when wanted, with:
--     SELECT e.profile_id FROM klaviyo_events e LEFT JOIN klaviyo_profiles p ON p.id = e.profile_id
--     WHERE e."timestamp" > now() - INTERVAL '1 day' AND p.id IS NULL;
-- * campaign_id, flow_id, form_id (attribution: Klaviyo's $attributed_message / $flow /
--   $form_id of the event, NULL when not attributed) are not enforced for the same reasons:
--   separate syncs, and ingest cost.
CREATE TABLE klaviyo_events (
    id VARCHAR(50) NOT NULL,
    metric_id VARCHAR(50) NOT NULL REFERENCES klaviyo_metrics (id),
    profile_id VARCHAR(50) NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    value DECIMAL(12, 2),
    properties JSONB NOT NULL,
    raw_data JSONB NOT NULL,
    campaign_id VARCHAR(50),
    flow_id VARCHAR(50),
    form_id VARCHAR(50),
    PRIMARY KEY (id, "timestamp", metric_id)
);

-- The time dimension, with the planned chunk interval. TimescaleDB's default index on
-- ("timestamp" DESC) is not created: the BRIN index below is the time index (see there).
SELECT create_hypertable(
    'klaviyo_events',
    by_range('timestamp', :'chunk_interval'::interval),
    create_default_indexes => false
);

-- The space dimension on metric_id, when :space_partitions > 0. The default (0, none) is
-- deliberate: on a single node with one data disk, hash partitioning only multiplies the chunks
-- (4 partitions = 4 chunks per interval, each with its own set of indexes, more planning and
-- more locks per query) without any I/O gain. TimescaleDB's documentation recommends space
-- partitions only when chunks are spread over several tablespaces on separate disks. Queries by
-- metric are already served by idx_klaviyo_events_metric_timestamp inside each chunk. The
-- documents' 4 partitions remain available for a host with several data disks.
SET tsdb.space_partitions = :'space_partitions';
DO $$
DECLARE
    partitions integer := current_setting('tsdb.space_partitions')::integer;
BEGIN
    IF partitions < 0 THEN
        RAISE EXCEPTION 'space_partitions must be 0 (no space dimension) or more, not %',
            partitions;
    ELSIF partitions > 0 THEN
        PERFORM add_dimension('klaviyo_events', by_hash('metric_id', partitions));
        RAISE NOTICE 'klaviyo_events: space dimension on metric_id with % partitions',
            partitions;
    ELSE
        RAISE NOTICE 'klaviyo_events: no space dimension (space_partitions = 0)';
    END IF;
END
$$;

-- Dashboard: a metric's series by time bucket (WHERE metric_id = $1 AND "timestamp" >= $2
-- GROUP BY time_bucket(...)), answered from the index alone: value is INCLUDEd. Corrected from
-- the documents, which also INCLUDE properties: a B-tree entry is limited to 2704 bytes, so an
-- event with a large properties document (an order with many line items) would fail to insert,
-- and every properties document would be stored twice. JSON filters use the GIN index instead.
CREATE INDEX idx_klaviyo_events_metric_timestamp
    ON klaviyo_events (metric_id, "timestamp" DESC) INCLUDE (value);

-- Dashboard: a profile's timeline (WHERE profile_id = $1 ORDER BY "timestamp" DESC LIMIT n),
-- read in order newest chunk first, stopping after n rows.
CREATE INDEX idx_klaviyo_events_profile_timestamp
    ON klaviyo_events (profile_id, "timestamp" DESC);

-- Dashboard: a profile's events of one metric (WHERE profile_id = $1 AND metric_id = $2
-- ORDER BY "timestamp" DESC), e.g. a customer's orders.
CREATE INDEX idx_klaviyo_events_profile_metric_timestamp
    ON klaviyo_events (profile_id, metric_id, "timestamp" DESC);

-- Dashboard: time-range scans over all metrics (WHERE "timestamp" BETWEEN $1 AND $2). Events
-- arrive in time order, so each chunk's heap is physically sorted by time and a BRIN index
-- (a few pages per chunk) narrows the scan as well as a B-tree would (one entry per event,
-- ~30 bytes each). Chunk exclusion does the coarse cut first.
CREATE INDEX idx_klaviyo_events_timestamp_brin
    ON klaviyo_events USING BRIN ("timestamp") WITH (pages_per_range = 128);

-- Dashboard: events by property (WHERE properties @> '{"Campaign Name": "..."}' over the last
-- 30 days). jsonb_path_ops: smaller and faster than the default opclass, serves @> only.
CREATE INDEX idx_klaviyo_events_properties_gin
    ON klaviyo_events USING GIN (properties jsonb_path_ops);

-- Dashboard: the high-value events panel (WHERE value > $threshold AND "timestamp" >= now() -
-- INTERVAL '7 days' ORDER BY value DESC LIMIT n). Partial: only events with a value (orders,
-- refunds) are indexed; any literal threshold >= 0 implies the predicate.
CREATE INDEX idx_klaviyo_events_high_value
    ON klaviyo_events (value DESC, "timestamp" DESC) WHERE value > 0;

-- Dashboard: campaign performance (WHERE campaign_id = $1 GROUP BY metric_id: opens, clicks,
-- revenue), answered from the index alone. Partial: only attributed events are indexed.
CREATE INDEX idx_klaviyo_events_campaign_metric_timestamp
    ON klaviyo_events (campaign_id, metric_id, "timestamp" DESC) INCLUDE (value)
    WHERE campaign_id IS NOT NULL;

-- Dashboard: flow performance, as for campaigns (WHERE flow_id = $1 GROUP BY metric_id).
CREATE INDEX idx_klaviyo_events_flow_metric_timestamp
    ON klaviyo_events (flow_id, metric_id, "timestamp" DESC) INCLUDE (value)
    WHERE flow_id IS NOT NULL;

-- Dashboard: form performance (WHERE form_id = $1 GROUP BY metric_id: views, submissions).
CREATE INDEX idx_klaviyo_events_form_metric_timestamp
    ON klaviyo_events (form_id, metric_id, "timestamp" DESC) INCLUDE (value)
    WHERE form_id IS NOT NULL;
