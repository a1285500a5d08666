"""The documents' schema as written (../shared/seeds/000_*.txt and 002_*.txt), variants A-C.

Fixed only where PostgreSQL or the Apache build rejects it, each fix marked FIX:
- PRIMARY KEY (id) -> (id, timestamp, metric_id): a unique index on a hypertable must contain
  every partitioning column, the time column ("timestamp") and, once the documents'
  add_dimension() runs, metric_id too (checked: with (id, timestamp) add_dimension fails with
  'cannot create a unique index without the column "metric_id"').
- the "recent" index on klaviyo_aggregated_metrics loses its NOW() predicate (index
  predicates must be immutable).
- add_compression_policy / add_retention_policy: on the Apache build they are skipped (it
  lacks them); on the Community build they run as written (COMMUNITY), after enabling
  compression with TimescaleDB's defaults, which the documents do not do and
  add_compression_policy requires ('columnstore not enabled on hypertable').
Everything else is kept: both foreign keys, create_hypertable's default time index, 4 hash
partitions on metric_id, 7-day chunks, the covering index that INCLUDEs properties.
"""

SQL = """
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE klaviyo_metrics (
  id VARCHAR(50) PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  integration_id VARCHAR(50),
  integration_name VARCHAR(255),
  integration_category VARCHAR(255),
  metadata JSONB
);
CREATE INDEX idx_klaviyo_metrics_name ON klaviyo_metrics (name);
CREATE INDEX idx_klaviyo_metrics_metadata ON klaviyo_metrics USING GIN (metadata jsonb_path_ops);

CREATE TABLE klaviyo_profiles (
  id VARCHAR(50) PRIMARY KEY,
  email VARCHAR(255),
  phone_number VARCHAR(20),
  external_id VARCHAR(255),
  first_name VARCHAR(255),
  last_name VARCHAR(255),
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  properties JSONB,
  last_event_date TIMESTAMPTZ
);
CREATE INDEX idx_klaviyo_profiles_email ON klaviyo_profiles (email);
CREATE INDEX idx_klaviyo_profiles_phone ON klaviyo_profiles (phone_number);
CREATE INDEX idx_klaviyo_profiles_external_id ON klaviyo_profiles (external_id);
CREATE INDEX idx_klaviyo_profiles_name ON klaviyo_profiles (first_name, last_name);
CREATE INDEX idx_klaviyo_profiles_last_event ON klaviyo_profiles (last_event_date DESC);
CREATE INDEX idx_klaviyo_profiles_properties_gin
  ON klaviyo_profiles USING GIN (properties jsonb_path_ops);

CREATE TABLE klaviyo_events (
  id VARCHAR(50) NOT NULL,
  metric_id VARCHAR(50) NOT NULL REFERENCES klaviyo_metrics(id),
  profile_id VARCHAR(50) NOT NULL REFERENCES klaviyo_profiles(id),
  timestamp TIMESTAMPTZ NOT NULL,
  value DECIMAL(12,2),
  properties JSONB NOT NULL,
  raw_data JSONB NOT NULL,
  PRIMARY KEY (id, timestamp, metric_id)  -- FIX: was PRIMARY KEY (id)
);
SELECT create_hypertable('klaviyo_events', 'timestamp');
SELECT add_dimension('klaviyo_events', 'metric_id', number_partitions => 4);
SELECT set_chunk_time_interval('klaviyo_events', INTERVAL '7 days');
-- FIX: add_compression_policy('klaviyo_events', INTERVAL '90 days') and
-- add_retention_policy('klaviyo_events', INTERVAL '2 years') skipped (Apache build)

CREATE INDEX idx_klaviyo_events_metric_timestamp
  ON klaviyo_events (metric_id, timestamp DESC) INCLUDE (value, properties);
CREATE INDEX idx_klaviyo_events_profile_timestamp ON klaviyo_events (profile_id, timestamp DESC);
CREATE INDEX idx_klaviyo_events_profile_metric_timestamp
  ON klaviyo_events (profile_id, metric_id, timestamp DESC);
CREATE INDEX idx_klaviyo_events_timestamp_brin
  ON klaviyo_events USING BRIN (timestamp) WITH (pages_per_range = 128);
CREATE INDEX idx_klaviyo_events_properties_gin
  ON klaviyo_events USING GIN (properties jsonb_path_ops);
CREATE INDEX idx_klaviyo_events_high_value ON klaviyo_events (value DESC, timestamp DESC)
  WHERE value > 0;

CREATE TABLE klaviyo_aggregated_metrics (
  metric_id VARCHAR(50) NOT NULL REFERENCES klaviyo_metrics(id),
  time_bucket TIMESTAMPTZ NOT NULL,
  bucket_size VARCHAR(10) NOT NULL,
  count INTEGER NOT NULL,
  sum_value DECIMAL(12,2) NOT NULL,
  min_value DECIMAL(12,2),
  max_value DECIMAL(12,2),
  avg_value DECIMAL(12,2),
  PRIMARY KEY (metric_id, time_bucket, bucket_size)
);
SELECT create_hypertable('klaviyo_aggregated_metrics', 'time_bucket');
-- FIX: the documents' predicate WHERE time_bucket > NOW() - INTERVAL '30 days' is rejected
CREATE INDEX idx_klaviyo_aggregated_metrics_recent
  ON klaviyo_aggregated_metrics (metric_id, time_bucket DESC);
-- FIX: add_compression_policy('klaviyo_aggregated_metrics', INTERVAL '90 days') skipped

CREATE TABLE klaviyo_campaigns (
  id VARCHAR(50) PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(50) NOT NULL,
  send_time TIMESTAMPTZ
);
CREATE INDEX idx_klaviyo_campaigns_active ON klaviyo_campaigns (status, send_time DESC)
  WHERE status = 'active';
"""

# The documents' policies, on the Community build. FIX: compression enabled first, with
# TimescaleDB's default segmentby and orderby (the documents name none).
COMMUNITY = """
ALTER TABLE klaviyo_events SET (timescaledb.compress);
SELECT add_compression_policy('klaviyo_events', INTERVAL '90 days');
SELECT add_retention_policy('klaviyo_events', INTERVAL '2 years');
ALTER TABLE klaviyo_aggregated_metrics SET (timescaledb.compress);
SELECT add_compression_policy('klaviyo_aggregated_metrics', INTERVAL '90 days');
"""

# How the documents' table gets its rows is not specified (an AggregationRepository); the
# benchmark fills it with the same buckets the project's refresh computes, in one statement.
FILL_AGGREGATES = """
INSERT INTO klaviyo_aggregated_metrics
SELECT metric_id, time_bucket(b.size::interval, timestamp), b.size, count(*),
       coalesce(sum(value), 0), min(value), max(value), round(avg(value), 2)
FROM klaviyo_events CROSS JOIN (VALUES ('1 hour'), ('1 day')) AS b(size)
GROUP BY metric_id, 2, b.size
"""
