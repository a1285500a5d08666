"""A production-like dataset with personal data where Klaviyo puts it, for staging rebuilds
(tests/integration/test_staging.py and the benchmark's lab/bench/staging.py).

The profile's columns, its properties (flat and the API's nested location), the events'
properties and the API document's event_properties hold emails, phone numbers, names and
addresses; one phone number is a JSON number. Events are `spacing` seconds apart (5 minutes by
default), so the older ones fall into chunks that are compressed (masking must rewrite
compressed chunks too); keep them within the retention policy's horizon (two years), or its
job drops them.
"""

from __future__ import annotations

DATASET = """
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at)
SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, 10) i;
INSERT INTO klaviyo_campaigns (id, name, status, created_at, updated_at)
SELECT 'C' || i, 'Campaign ' || i, 'sent', now(), now() FROM generate_series(1, 4) i;
INSERT INTO klaviyo_profiles (id, email, phone_number, external_id, first_name, last_name,
                              created_at, updated_at, properties)
SELECT 'P' || i, 'Person.' || i || '@Shop-Customer.example', '+1 555 01' || lpad(i::text, 5, '0'),
       'cust-' || i, 'First' || i, 'Last' || i, now(), now(),
       jsonb_build_object('$email', 'person.' || i || '@shop-customer.example',
                          'location', jsonb_build_object('address1', i || ' Elm Street',
                                                         'zip', lpad(i::text, 5, '9'),
                                                         'city', 'Springfield'),
                          'Loyalty Tier', CASE WHEN i % 2 = 0 THEN 'A' ELSE 'B' END)
FROM generate_series(1, {profiles}) i;
-- a phone number stored as a JSON number: masked all the same
INSERT INTO klaviyo_profiles (id, created_at, updated_at, properties)
VALUES ('P{number_profile}', now(), now(), '{{"$phone_number": 15550100401}}');
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data,
                            campaign_id)
SELECT 'E' || i, 'M' || (1 + i % 10), 'P' || (1 + i % {profiles}),
       now() - i * INTERVAL '{spacing} seconds',
       CASE WHEN i % 3 = 0 THEN round((i % 500) / 7.0, 2) END,
       jsonb_build_object('$email', 'person.' || (1 + i % {profiles}) || '@shop-customer.example',
                          'Campaign Name', 'Campaign ' || (i % 4)),
       jsonb_build_object('attributes', jsonb_build_object('event_properties',
           jsonb_build_object('$phone_number',
                              '+1555 01' || lpad((1 + i % {profiles})::text, 5, '0')))),
       CASE WHEN i % 2 = 0 THEN 'C' || (1 + i % 4) END
FROM generate_series(1, {events}) i;
SELECT count(compress_chunk(c, if_not_compressed => true))
FROM show_chunks('klaviyo_events', older_than => INTERVAL '14 days') c;
"""


def dataset_sql(events: int, profiles: int, spacing: int = 300) -> str:
    """The dataset's SQL: `profiles` profiles with personal data and one more whose phone
    number is a JSON number (P<profiles + 1>), `events` events spread over them, one every
    `spacing` seconds back from now."""
    if not (0 < profiles <= 99_999 and events > 0):  # the phone numbers have 5 digits
        raise ValueError(f"profiles must be 1..99999 and events > 0, not {profiles}, {events}")
    if spacing < 1:
        raise ValueError(f"spacing must be at least 1 second, not {spacing}")
    return DATASET.format(
        events=events, profiles=profiles, number_profile=profiles + 1, spacing=spacing
    )
