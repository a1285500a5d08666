"""The benchmark's data: Klaviyo-shaped metrics, profiles and events from a fixed seed.

Standard library only: this module is copied into the test host and run there by agent.py, so
the data is generated next to PostgreSQL, once, before anything is timed. Every event batch is
written up front in each form a writer sends it (COPY text and multi-row INSERT statements, for
the documents' 7-column table and this project's 10-column one), so during timing a writer only
reads bytes from memory and sends them: the client cannot be what limits ingest.

Shape (the documents' dashboard): ~50 metrics with a Zipf-like skew (a few email metrics make
most events, revenue metrics carry a value), profiles whose activity is skewed too (a few very
active ones), events over 180 days ending at END, arriving in time order as a sync delivers
them, JSON properties of ~250 bytes and raw_data of ~350 bytes; 26-character random ids as
Klaviyo's. The same spec regenerates the same bytes, and query_parameters() names the metrics,
profiles and campaigns the queries ask for without generating the events.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2025, 6, 1, tzinfo=UTC)
DAYS = 180
START = END - timedelta(days=DAYS)
SEED = 20250601
METRIC_SKEW = 1.1  # weight of the k-th metric: 1 / k**METRIC_SKEW
PROFILE_SKEW = 2.0  # profile index = profiles * u**PROFILE_SKEW: the lowest indexes are busiest
CAMPAIGNS, FLOWS, FORMS = 200, 40, 20
SHAPES = ("documents", "project")  # the documents' events table; this project's (attribution)
METHODS = ("copy", "insert")
INSERT_STATEMENTS_PER_BATCH = 5  # one batch = 5 multi-row INSERTs of batch_rows / 5 rows

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as Klaviyo's ULIDs

# (name, category) by popularity; categories decide properties, value and attribution.
_NAMED_METRICS = [
    ("Received Email", "email"),
    ("Opened Email", "email"),
    ("Active on Site", "site"),
    ("Viewed Product", "site"),
    ("Clicked Email", "email"),
    ("Added to Cart", "cart"),
    ("Started Checkout", "cart"),
    ("Placed Order", "order"),
    ("Ordered Product", "order"),
    ("Fulfilled Order", "order"),
    ("Received SMS", "sms"),
    ("Clicked SMS", "sms"),
    ("Subscribed to List", "form"),
    ("Viewed Form", "form"),
    ("Submitted Form", "form"),
    ("Unsubscribed", "email"),
    ("Bounced Email", "email"),
    ("Marked Email as Spam", "email"),
    ("Refunded Order", "order"),
    ("Cancelled Order", "order"),
]
METRIC_COUNT = 50
_VALUED = {"cart", "order"}
_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com"]
_PRODUCTS = [
    "Linen Shirt",
    "Canvas Tote",
    "Wool Beanie",
    "Trail Runner",
    "Denim Jacket",
    "Silk Scarf",
    "Leather Belt",
    "Rain Shell",
    "Cotton Tee",
    "Chino Shorts",
]
_FIRST = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Ivy", "Lucas", "Nora", "Owen"]
_LAST = ["Smith", "Garcia", "Chen", "Patel", "Kim", "Novak", "Silva", "Dubois", "Rossi", "Berg"]


@dataclass(frozen=True)
class Spec:
    events: int
    profiles: int
    seed: int = SEED
    batch_rows: int = 5000  # rows per COPY batch (one transaction)

    @property
    def batches(self) -> int:
        return -(-self.events // self.batch_rows)

    @property
    def events_per_day(self) -> int:
        return self.events // DAYS

    def batch_size(self, index: int) -> int:
        return min(self.batch_rows, self.events - index * self.batch_rows)


def spec_for(events: int, profiles: int, seed: int = SEED) -> Spec:
    """Batches of 5000 rows, smaller for tiny runs so that every configuration gets several."""
    rows = max(INSERT_STATEMENTS_PER_BATCH * 10, min(5000, events // 200))
    rows -= rows % INSERT_STATEMENTS_PER_BATCH
    return Spec(events, profiles, seed, rows)


def _id(rng: random.Random, length: int = 26) -> str:
    return "".join(rng.choices(_ALPHABET, k=length))


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    category: str
    weight: float


def metrics(spec: Spec) -> list[Metric]:
    rng = random.Random(spec.seed)
    named = _NAMED_METRICS + [
        (f"Custom Event {i:02d}", "custom") for i in range(METRIC_COUNT - len(_NAMED_METRICS))
    ]
    return [
        Metric(_id(rng, 6), name, category, 1 / rank**METRIC_SKEW)
        for rank, (name, category) in enumerate(named, start=1)
    ]


def profile_ids(spec: Spec) -> list[str]:
    rng = random.Random(spec.seed + 1)
    return [_id(rng) for _ in range(spec.profiles)]


def _attribution_ids(spec: Spec) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(spec.seed + 2)
    return (
        [_id(rng) for _ in range(CAMPAIGNS)],
        [_id(rng, 6) for _ in range(FLOWS)],
        [_id(rng, 6) for _ in range(FORMS)],
    )


def campaign_name(index: int) -> str:
    themes = ("Spring Sale", "New Arrivals", "Weekly Digest", "VIP Early Access", "Restock")
    return f"{themes[index % len(themes)]} #{index:03d}"


def query_parameters(spec: Spec) -> dict[str, list[str]]:
    """What the dashboard queries ask for, rotated over repetitions (same for every variant):
    a busy email metric, the main revenue metric and a mid-popularity one; profiles from the
    busiest to quiet ones; campaigns by name for JSON containment."""
    ms = metrics(spec)
    by_name = {m.name: m.id for m in ms}
    profiles = profile_ids(spec)
    picks = sorted(
        {0, 10, 100, len(profiles) // 10, len(profiles) // 2} & set(range(len(profiles)))
    )
    return {
        "metric": [by_name["Opened Email"], by_name["Placed Order"], ms[24].id],
        "profile": [profiles[i] for i in picks],
        "campaign": [campaign_name(i) for i in (7, 70, 140)],
    }


def _copy_text(value) -> str:
    """One field in COPY's text format. JSON and ids carry no tab, newline or CR (json.dumps
    escapes them), so only the backslash needs escaping."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\")


def _sql_literal(value) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


class _EventMaker:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.rng = random.Random(spec.seed + 3)
        self.metrics = metrics(spec)
        self.cum_weights = []
        total = 0.0
        for m in self.metrics:
            total += m.weight
            self.cum_weights.append(total)
        self.profiles = profile_ids(spec)
        self.campaigns, self.flows, self.forms = _attribution_ids(spec)

    def _properties(self, metric: Metric, campaign: int | None, value: str | None) -> dict:
        rng = self.rng
        # Every Klaviyo event carries where it came from; the rest depends on the metric.
        props: dict = {"$integration": "shopify", "Store": "ACME Outfitters", "Locale": "en-US"}
        if campaign is not None:
            props["Campaign Name"] = campaign_name(campaign)
        if metric.category in ("email", "sms"):
            props |= {
                "Subject": f"{rng.choice(_PRODUCTS)}: {rng.randint(10, 60)}% off this week only",
                "$message": _id(rng, 6),
                "Email Domain": rng.choice(_DOMAINS),
                "Client Name": rng.choice(["Gmail", "Apple Mail", "Outlook", "Yahoo Mail"]),
                "Client OS": rng.choice(["iOS", "Android", "Windows", "macOS"]),
                "$esp": 1,
            }
        elif metric.category in _VALUED:
            items = rng.sample(_PRODUCTS, rng.randint(1, 3))
            props |= {
                "$value": float(value),
                "ItemNames": items,
                "ItemCount": len(items),
                "Discount Codes": [f"SAVE{rng.randint(5, 30)}"] if rng.random() < 0.3 else [],
                "$event_id": _id(rng, 12),
                "Source": rng.choice(["web", "ios", "android", "pos"]),
            }
        elif metric.category == "form":
            props |= {"form_type": rng.choice(["popup", "flyout", "embed"]), "$source": "web"}
        else:
            product = rng.choice(_PRODUCTS)
            props |= {
                "ProductName": product,
                "ProductID": rng.randint(1000, 9999),
                "Categories": ["Apparel", rng.choice(["Men", "Women", "Unisex"])],
                "URL": f"https://shop.example.com/products/{product.lower().replace(' ', '-')}",
                "Price": round(rng.uniform(9, 250), 2),
            }
        return props

    def event(self, when: datetime) -> tuple:
        """(id, metric_id, profile_id, timestamp, value, properties, raw_data, campaign_id,
        flow_id, form_id) as strings or None."""
        rng = self.rng
        metric = rng.choices(self.metrics, cum_weights=self.cum_weights)[0]
        profile = self.profiles[int(len(self.profiles) * rng.random() ** PROFILE_SKEW)]
        value = f"{rng.uniform(5, 400):.2f}" if metric.category in _VALUED else None
        campaign = flow = form = None
        draw = rng.random()
        if metric.category in ("email", "sms"):
            campaign = rng.randrange(CAMPAIGNS) if draw < 0.6 else None
            flow = rng.randrange(FLOWS) if draw >= 0.6 else None
        elif metric.category == "form":
            form = rng.randrange(FORMS)
        elif draw < 0.15:  # Klaviyo's $attributed_message: a site or order event after a send
            campaign = rng.randrange(CAMPAIGNS)
        elif draw < 0.25:
            flow = rng.randrange(FLOWS)
        event_id = _id(rng)
        stamp = when.isoformat(sep=" ")
        properties = self._properties(metric, campaign, value)
        raw = {
            "type": "event",
            "id": event_id,
            "attributes": {
                "timestamp": int(when.timestamp()),
                "datetime": stamp,
                "event_properties": {"$event_id": _id(rng, 12)},
            },
            "relationships": {
                "profile": {"data": {"type": "profile", "id": profile}},
                "metric": {"data": {"type": "metric", "id": metric.id}},
            },
        }
        return (
            event_id,
            metric.id,
            profile,
            stamp,
            value,
            json.dumps(properties),
            json.dumps(raw),
            self.campaigns[campaign] if campaign is not None else None,
            self.flows[flow] if flow is not None else None,
            self.forms[form] if form is not None else None,
        )

    def batch(self, index: int) -> list[tuple]:
        """Batch `index` of the time-ordered stream: its own slice of the 180 days, sorted."""
        spec = self.spec
        span = (END - START) / spec.batches
        begin = START + span * index
        seconds = span.total_seconds()
        offsets = sorted(self.rng.random() * seconds for _ in range(spec.batch_size(index)))
        return [self.event(begin + timedelta(seconds=o)) for o in offsets]


DOCUMENT_COLUMNS = 'id, metric_id, profile_id, "timestamp", value, properties, raw_data'
PROJECT_COLUMNS = DOCUMENT_COLUMNS + ", campaign_id, flow_id, form_id"
# This project's ingest is idempotent: a re-sent batch must not fail (sql/0003's conflict target).
PROJECT_CONFLICT = ' ON CONFLICT (id, "timestamp", metric_id) DO NOTHING'


def columns(shape: str) -> str:
    return DOCUMENT_COLUMNS if shape == "documents" else PROJECT_COLUMNS


def _render(rows: list[tuple], shape: str) -> tuple[bytes, bytes]:
    width = 7 if shape == "documents" else 10
    copy = "".join("\t".join(_copy_text(v) for v in row[:width]) + "\n" for row in rows)
    per_statement = -(-len(rows) // INSERT_STATEMENTS_PER_BATCH)
    conflict = PROJECT_CONFLICT if shape == "project" else ""
    statements = []
    for start in range(0, len(rows), per_statement):
        values = ",".join(
            "(" + ",".join(_sql_literal(v) for v in row[:width]) + ")"
            for row in rows[start : start + per_statement]
        )
        statements.append(
            f"INSERT INTO klaviyo_events ({columns(shape)}) VALUES {values}{conflict}\n"
        )
    return copy.encode(), "".join(statements).encode()


def batch_path(root: Path, shape: str, method: str, index: int) -> Path:
    return root / shape / method / f"{index:06d}"


def _write_reference(spec: Spec, root: Path) -> None:
    rng = random.Random(spec.seed + 4)
    created = (START - timedelta(days=400)).isoformat(sep=" ")
    with open(root / "klaviyo_metrics.tsv", "w") as out:
        for m in metrics(spec):
            metadata = json.dumps({"category": m.category, "source": "klaviyo"})
            out.write(
                f"{m.id}\t{m.name}\t{created}\t{created}\tklaviyo\tKlaviyo\tapi\t{metadata}\n"
            )
    with open(root / "klaviyo_profiles.tsv", "w") as out:
        for i, pid in enumerate(profile_ids(spec)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            properties = json.dumps(
                {"Accepts Marketing": rng.random() < 0.7, "Loyalty Tier": rng.choice("ABC")}
            )
            seen = (END - timedelta(seconds=rng.random() * DAYS * 86400)).isoformat(sep=" ")
            fields = (
                pid,
                f"{first}.{last}.{i}@{rng.choice(_DOMAINS)}".lower(),
                f"+1555{rng.randrange(10**7):07d}",
                f"cust-{i}",
                first,
                last,
                created,
                created,
                properties,
                seen,
            )
            out.write("\t".join(_copy_text(f) for f in fields) + "\n")
    # The campaigns the events are attributed to (campaign_id) under the names their
    # properties carry ("Campaign Name"); this project's schema only: D's campaign panel
    # resolves a name here, the documents' variants filter the properties instead.
    with open(root / "klaviyo_campaigns.tsv", "w") as out:
        for i, cid in enumerate(_attribution_ids(spec)[0]):
            sent = (START + timedelta(days=DAYS * i / CAMPAIGNS)).isoformat(sep=" ")
            fields = (cid, campaign_name(i), "sent", "email", sent, created, created)
            out.write("\t".join(_copy_text(f) for f in fields) + "\n")


METRICS_COLUMNS = (
    "id, name, created_at, updated_at, integration_id, integration_name, integration_category, "
    "metadata"
)
PROFILES_COLUMNS = (
    "id, email, phone_number, external_id, first_name, last_name, created_at, updated_at, "
    "properties, last_event_date"
)
CAMPAIGNS_COLUMNS = "id, name, status, channel, send_time, created_at, updated_at"


def write(spec: Spec, root: Path, progress=None) -> dict:
    """Generate everything under root; returns the manifest (also root/manifest.json)."""
    root.mkdir(parents=True, exist_ok=True)
    for shape in SHAPES:
        for method in METHODS:
            (root / shape / method).mkdir(parents=True, exist_ok=True)
    _write_reference(spec, root)
    maker = _EventMaker(spec)
    sizes = {"properties": 0, "raw_data": 0, "copy_bytes": {s: 0 for s in SHAPES}}
    for index in range(spec.batches):
        rows = maker.batch(index)
        sizes["properties"] += sum(len(r[5]) for r in rows)
        sizes["raw_data"] += sum(len(r[6]) for r in rows)
        for shape in SHAPES:
            copy, insert = _render(rows, shape)
            sizes["copy_bytes"][shape] += len(copy)
            batch_path(root, shape, "copy", index).write_bytes(copy)
            batch_path(root, shape, "insert", index).write_bytes(insert)
        if progress:
            progress(index + 1, spec.batches)
    manifest = {
        "spec": asdict(spec),
        "batches": spec.batches,
        "events_per_day": spec.events_per_day,
        "mean_properties_bytes": round(sizes["properties"] / spec.events),
        "mean_raw_data_bytes": round(sizes["raw_data"] / spec.events),
        "copy_bytes": sizes["copy_bytes"],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
