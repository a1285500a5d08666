-- 0002_reference_tables: metrics, profiles, campaigns, flows, forms, segments and segment membership
--
-- Plain tables: one row per Klaviyo object, updated in place by the sync. The time-series data
-- (events) and the aggregates follow in 0003 and 0004. Every index says which dashboard query it
-- serves; a table without one beyond its primary key is small enough to scan.

SET ROLE :"app_user";

-- Metrics: the event types (Placed Order, Opened Email, ...). Small (tens to hundreds of rows)
-- and read on every event insert through the events -> metrics foreign key.
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

-- Dashboard: the metric picker's search by name (WHERE name = $1 / ORDER BY name).
CREATE INDEX idx_klaviyo_metrics_name ON klaviyo_metrics (name);
-- Dashboard: metrics filtered by integration metadata (WHERE metadata @> '{"...": ...}').
CREATE INDEX idx_klaviyo_metrics_metadata ON klaviyo_metrics USING GIN (metadata jsonb_path_ops);

-- Profiles: one row per customer. Large (up to millions of rows), updated by the profile sync.
-- last_event_date is maintained by the application's ingest, not by a trigger on events (a
-- row trigger on the events hypertable would tax every ingested event).
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

-- Dashboard: profile search by email (WHERE email = $1).
CREATE INDEX idx_klaviyo_profiles_email ON klaviyo_profiles (email);
-- Dashboard: profile search by phone number (WHERE phone_number = $1).
CREATE INDEX idx_klaviyo_profiles_phone ON klaviyo_profiles (phone_number);
-- Dashboard and sync: profile lookup by the shop's own customer id (WHERE external_id = $1).
CREATE INDEX idx_klaviyo_profiles_external_id ON klaviyo_profiles (external_id);
-- Dashboard: profile search by name (WHERE first_name = $1 [AND last_name = $2]).
CREATE INDEX idx_klaviyo_profiles_name ON klaviyo_profiles (first_name, last_name);
-- Dashboard: recently active profiles (ORDER BY last_event_date DESC LIMIT n).
CREATE INDEX idx_klaviyo_profiles_last_event ON klaviyo_profiles (last_event_date DESC);
-- Dashboard: profiles by custom property (WHERE properties @> '{"...": ...}').
CREATE INDEX idx_klaviyo_profiles_properties_gin
    ON klaviyo_profiles USING GIN (properties jsonb_path_ops);

-- Campaigns: one-off sends. Events are attributed to a campaign through
-- klaviyo_events.campaign_id (0003).
CREATE TABLE klaviyo_campaigns (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    channel VARCHAR(20),
    archived BOOLEAN NOT NULL DEFAULT false,
    send_time TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- {"included": [segment or list ids], "excluded": [...]}, as the campaign API returns it
    audiences JSONB,
    metadata JSONB
);

-- Dashboard: the active-campaigns panel (WHERE status = 'active' ORDER BY send_time DESC).
-- Partial: only the few active campaigns are indexed. The predicate is immutable, so valid.
CREATE INDEX idx_klaviyo_campaigns_active ON klaviyo_campaigns (status, send_time DESC)
    WHERE status = 'active';

-- Flows: automations (welcome series, abandoned cart, ...). Events are attributed to a flow
-- through klaviyo_events.flow_id (0003). Tens to hundreds of rows: no index beyond the key.
CREATE TABLE klaviyo_flows (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT false,
    trigger_type VARCHAR(50),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    metadata JSONB
);

-- Forms: sign-up forms and pop-ups. Their views and submissions are events attributed through
-- klaviyo_events.form_id (0003). Few rows: no index beyond the key.
CREATE TABLE klaviyo_forms (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    status VARCHAR(50) NOT NULL,
    ab_test BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    metadata JSONB
);

-- Segments: rule-defined groups of profiles. Few rows: no index beyond the key.
CREATE TABLE klaviyo_segments (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    definition JSONB,
    is_active BOOLEAN NOT NULL DEFAULT true,
    is_processing BOOLEAN NOT NULL DEFAULT false,
    is_starred BOOLEAN NOT NULL DEFAULT false,
    profile_count INTEGER,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    metadata JSONB
);

-- Segment membership: which profiles are in which segment now (the sync replaces it per
-- segment). Current state, not history, so a plain table. Both foreign keys cascade: a segment or
-- a profile deleted in Klaviyo takes its memberships with it. The sync writes the profile before
-- its membership, so enforcing the profile reference costs no ordering trouble here (unlike on
-- events, see 0003).
CREATE TABLE klaviyo_segment_profiles (
    segment_id VARCHAR(50) NOT NULL REFERENCES klaviyo_segments (id) ON DELETE CASCADE,
    profile_id VARCHAR(50) NOT NULL REFERENCES klaviyo_profiles (id) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Dashboard: a segment's members (WHERE segment_id = $1), and the sync's upsert.
    PRIMARY KEY (segment_id, profile_id)
);

-- Dashboard: the segments a profile belongs to (WHERE profile_id = $1); also what the cascade
-- from a deleted profile looks up.
CREATE INDEX idx_klaviyo_segment_profiles_profile ON klaviyo_segment_profiles (profile_id);
