"""The benchmark's generated workload: deterministic, Klaviyo-shaped, loadable as written."""

import json
from datetime import datetime

import pytest

from lab.bench import workload


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("workload")
    spec = workload.spec_for(3000, 400)
    return spec, root, workload.write(spec, root)


def test_batch_sizes_scale_down_for_tiny_runs():
    assert workload.spec_for(5_000_000, 1).batch_rows == 5000
    small = workload.spec_for(3000, 1)
    assert small.batch_rows % workload.INSERT_STATEMENTS_PER_BATCH == 0
    assert small.batches >= 20
    assert sum(small.batch_size(i) for i in range(small.batches)) == 3000


def test_the_same_spec_writes_the_same_bytes(data, tmp_path):
    spec, root, _ = data
    workload.write(spec, tmp_path)
    for shape in workload.SHAPES:
        for method in workload.METHODS:
            for i in (0, spec.batches - 1):
                a = workload.batch_path(root, shape, method, i).read_bytes()
                assert a == workload.batch_path(tmp_path, shape, method, i).read_bytes()


def test_events_are_time_ordered_within_the_window_and_json_sized(data):
    spec, root, manifest = data
    stamps = []
    for i in range(spec.batches):
        for line in workload.batch_path(root, "project", "copy", i).read_text().splitlines():
            fields = line.split("\t")
            assert len(fields) == 10
            json.loads(fields[5].replace("\\\\", "\\"))
            stamps.append(datetime.fromisoformat(fields[3]))
    assert len(stamps) == spec.events
    assert stamps == sorted(stamps)
    assert stamps[0] >= workload.START and stamps[-1] < workload.END
    assert 200 <= manifest["mean_properties_bytes"] <= 300
    assert 300 <= manifest["mean_raw_data_bytes"] <= 400


def test_metrics_are_skewed_and_revenue_metrics_carry_a_value(data):
    spec, root, _ = data
    names = {m.id: m.name for m in workload.metrics(spec)}
    counts, valued = {}, 0
    for i in range(spec.batches):
        for line in workload.batch_path(root, "documents", "copy", i).read_text().splitlines():
            fields = line.split("\t")
            assert len(fields) == 7
            counts[names[fields[1]]] = counts.get(names[fields[1]], 0) + 1
            valued += fields[4] != "\\N"
    ranked = sorted(counts.values(), reverse=True)
    assert len(workload.metrics(spec)) == 50
    assert ranked[0] > 10 * ranked[len(ranked) // 2]
    assert 0.1 < valued / spec.events < 0.3


def test_insert_batches_are_one_statement_per_line_idempotent_only_for_the_project(data):
    spec, root, _ = data
    project = workload.batch_path(root, "project", "insert", 0).read_text().splitlines()
    documents = workload.batch_path(root, "documents", "insert", 0).read_text().splitlines()
    assert len(project) == len(documents) == workload.INSERT_STATEMENTS_PER_BATCH
    assert all(s.endswith(workload.PROJECT_CONFLICT) for s in project)
    assert not any("ON CONFLICT" in s for s in documents)
    assert all(s.startswith("INSERT INTO klaviyo_events (") for s in project + documents)


def test_query_parameters_name_rows_that_exist(data):
    spec, root, _ = data
    params = workload.query_parameters(spec)
    text = "".join(
        workload.batch_path(root, "project", "copy", i).read_text() for i in range(spec.batches)
    )
    assert all(m in text for m in params["metric"])
    assert params["profile"][0] in text  # the busiest profile
    assert any(f'"Campaign Name": "{c}"' in text for c in params["campaign"])
    profiles = (root / "klaviyo_profiles.tsv").read_text().splitlines()
    assert len(profiles) == spec.profiles


def test_copy_and_sql_escaping():
    assert workload._copy_text(None) == "\\N"
    assert workload._copy_text('{"a": "b\\\\c"}') == '{"a": "b\\\\\\\\c"}'
    assert workload._sql_literal("O'Brien") == "'O''Brien'"
    assert workload._sql_literal(None) == "NULL"
