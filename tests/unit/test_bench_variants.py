"""Variants A-D: what each configures, and how the server is switched between them."""

import pytest

from lab.bench import agent, documents, queries, schemas, variants, workload
from lab.bench.host import BenchError
from tsdb_deploy.planner import Hardware
from tsdb_deploy.units import GIB

from .test_sql_files import FILES, _text, _variables

HW = Hardware(memory_bytes=8 * GIB, cpus=2, storage="ssd", data_disk_bytes=250 * GIB)


class FakeHost:
    """Records SQL; answers the queries variants.apply makes."""

    def __init__(self):
        self.sql, self.restarts = [], 0

    def psql(self, sql, db="postgres"):
        self.sql.append(sql)
        return ""

    def restart(self):
        self.restarts += 1

    def json_query(self, sql, db="postgres"):
        return [{"name": "shared_buffers", "value": "2GB"}]


def test_four_variants_two_schemas():
    vs, the_plan = variants.build(HW)
    assert [(v.key, v.schema, v.db) for v in vs] == [
        ("A", "documents", "bench_a"), ("B", "documents", "bench_b"),
        ("C", "documents", "bench_c"), ("D", "project", "bench_d"),
    ]  # fmt: skip
    a, b, c, d = vs
    assert a.config == {"shared_preload_libraries": "timescaledb"}
    assert b.config["work_mem"] == "10485kB"
    assert c.config == d.config
    assert c.config["shared_buffers"] == the_plan.parameters["shared_buffers"].text
    assert c.config["shared_preload_libraries"] == "timescaledb,pg_stat_statements"
    assert "listen_addresses" not in c.config and "port" not in c.config


def test_durability_stays_on_in_every_variant():
    vs, _ = variants.build(HW)
    for v in vs:
        for name in variants.DURABILITY:
            assert v.config.get(name, "on") == "on", (v.key, name)


def test_apply_sets_every_key_stock_where_unset_and_restarts():
    vs, _ = variants.build(HW)
    keys = variants.all_keys(vs)
    stock = {k: "0" for k in keys} | {"shared_preload_libraries": ""}
    host = FakeHost()
    variants.apply(host, vs[0], keys, stock)
    assert host.sql[0] == "ALTER SYSTEM RESET ALL"
    sets = [s for s in host.sql if s.startswith("ALTER SYSTEM SET")]
    assert len(sets) == len(keys)
    assert "ALTER SYSTEM SET \"work_mem\" = '0'" in sets
    assert host.restarts == 1
    host = FakeHost()
    variants.apply(host, vs[2], keys, stock)
    assert (
        "ALTER SYSTEM SET \"shared_preload_libraries\" = 'timescaledb', 'pg_stat_statements'"
        in host.sql
    )


def test_a_variant_left_pending_a_restart_is_an_error():
    vs, _ = variants.build(HW)
    keys = variants.all_keys(vs)

    class Pending(FakeHost):
        def psql(self, sql, db="postgres"):
            return "shared_buffers" if "pending_restart" in sql else ""

    with pytest.raises(BenchError, match="pending a restart"):
        variants.apply(Pending(), vs[1], keys, dict.fromkeys(keys, "0"))


def test_documents_schema_keeps_their_choices_and_marks_each_fix():
    sql = documents.SQL
    assert "PRIMARY KEY (id, timestamp, metric_id)  -- FIX" in sql
    assert "number_partitions => 4" in sql
    assert "INCLUDE (value, properties)" in sql
    assert "REFERENCES klaviyo_profiles(id)" in sql
    assert "NOW()" not in sql.replace("NOW() - INTERVAL '30 days' is rejected", "")
    assert "SELECT add_compression_policy" not in sql


def test_project_variables_size_the_chunk_for_the_workload():
    small = schemas.project_variables(workload.spec_for(1_000_000, 10), 2 * GIB)
    assert small["chunk_interval"] == "30 days"  # the longest step
    assert small["space_partitions"] == "0"
    # the deploy's defaults, as host_plan.schema_variables passes them
    assert (small["retention"], small["compress_after"]) == ("2 years", "90 days")
    # 100M events over 180 days x 480 B of index: ~266 MB per day, 4 days fit in 1 GiB.
    big = schemas.project_variables(workload.spec_for(100_000_000, 10), 1 * GIB)
    assert big["chunk_interval"] == "3 days"


def test_project_variables_give_every_variable_the_migrations_use():
    """The bench applies sql/ itself: a variable a new migration uses must be passed too."""
    used = set().union(*(_variables(_text(path)) for path in FILES))
    given = schemas.project_variables(workload.spec_for(1_000_000, 10), 2 * GIB)
    assert used - set(given) == set()


def test_explain_collects_every_index_a_plan_scans():
    plan = {"Plan": {"Plans": [
        {"Index Name": "_hyper_1_3_chunk_idx_klaviyo_events_metric_timestamp"},
        {"Index Name": "3_7_klaviyo_events_pkey", "Plans": []},
    ]}}  # fmt: skip
    assert sorted(agent._index_names(plan["Plan"])) == [
        "3_7_klaviyo_events_pkey",
        "_hyper_1_3_chunk_idx_klaviyo_events_metric_timestamp",
    ]


def test_d_serves_series_counts_and_campaigns_its_way_others_as_the_documents():
    params = workload.query_parameters(workload.spec_for(10_000, 100))
    documents_sql = {q["name"]: q["sql"] for q in queries.definitions(params, "documents")}
    project_sql = {q["name"]: q["sql"] for q in queries.definitions(params, "project")}
    assert list(documents_sql) == list(project_sql) == list(queries.QUERY_TITLES)
    served = {"series_hour_30d", "series_day_30d", "events_per_metric_90d"}
    for name in queries.QUERY_TITLES:
        assert len(documents_sql[name]) == len(project_sql[name])
        if name in served:
            assert all("klaviyo_metric_series(" in s or "klaviyo_events_per_metric(" in s
                       for s in project_sql[name])  # fmt: skip
            assert all("GROUP BY" in s for s in documents_sql[name])
        elif name == "json_containment_30d":  # D: the campaign_id column its ingest fills
            assert all("campaign_id = ANY(" in s and "@>" not in s for s in project_sql[name])
            assert all("properties @>" in s for s in documents_sql[name])
        else:
            assert documents_sql[name] == project_sql[name]
    # The same window: the metric, the bucket and the 30 days ending at the data's END.
    first = project_sql["series_day_30d"][0]
    assert f"'{params['metric'][0]}', '1 day', {queries.END} - INTERVAL '30 days', " in first


def test_disagreements_name_the_query_and_the_variants_that_differ():
    same = {"rows": 3, "sha256": "a"}
    answers = {
        "A": {"q1": same, "q2": same},
        "B": {"q1": same, "q2": same},
        "D": {"q1": same, "q2": {"rows": 3, "sha256": "b"}},
    }
    assert queries.disagreements(answers) == ["q2: D"]
    assert queries.disagreements({"A": answers["A"], "B": answers["B"]}) == []


def test_answers_normalise_numbers_and_times_alike():
    from datetime import UTC, datetime, timedelta, timezone
    from decimal import Decimal

    assert agent._normalised(Decimal("12.30")) == agent._normalised(Decimal("12.3")) == "12.3"
    assert agent._normalised(Decimal("100")) == "100"
    assert agent._normalised(None) == "null"
    utc = datetime(2025, 6, 1, tzinfo=UTC)
    assert agent._normalised(utc) == agent._normalised(utc.astimezone(timezone(timedelta(hours=2))))
