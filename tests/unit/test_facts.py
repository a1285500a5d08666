"""Fact parsers on outputs recorded from real hosts (tests/fixtures/facts/).

Recorded here: the cgroup v1 files (this machine and a --memory 4g --cpus 2 test host), the
disk of this machine and of an overlay-rooted container, a live PostgreSQL 17 server and the
indexes of a deployed klaviyo_events. The
cgroup v2, NVMe, LVM and SATA files are written in the formats the kernel uses, as the fact's
shell prints them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tsdb_deploy import known_issues
from tsdb_deploy.facts import (
    FailingJobs,
    parse_database_state,
    parse_disk,
    parse_live_server,
    parse_resources,
    parse_states,
    parse_table_indexes,
    parse_timescaledb_state,
)
from tsdb_deploy.scram import verify
from tsdb_deploy.units import GIB

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


@pytest.mark.parametrize(
    "fixture, memory, cpus, note",
    [
        ("resources-cgroup1-docker-4g-2cpu.txt", 4 * GIB, 2.0, "cgroup limit 4.0 GiB"),
        ("resources-cgroup1-host-no-limit.txt", 24684100 * 1024, 2.0, "no cgroup limit"),
        ("resources-cgroup1-cpuset.txt", 16314788 * 1024, 3.0, "cpuset of 3 CPUs"),
        ("resources-cgroup2-docker-2g-1.5cpu.txt", 2 * GIB, 1.5, "CPU quota 1.5"),
        ("resources-cgroup2-systemd-unit-limits.txt", 8 * GIB, 4.0, "postgresql@17-main"),
    ],
    ids=["v1-container", "v1-host", "v1-cpuset", "v2-container", "v2-systemd-unit"],
)
def test_effective_resources(fixture, memory, cpus, note):
    resources = parse_resources(lines(fixture))
    assert resources.memory_bytes == memory
    assert resources.cpus == cpus
    assert any(note in n for n in resources.notes), resources.notes


def test_resources_need_meminfo():
    with pytest.raises(ValueError, match="MemTotal"):
        parse_resources(["online 2"])


@pytest.mark.parametrize(
    "fixture, storage, size, device, note",
    [
        ("disk-overlay-container.txt", "ssd", 270553174016, None, "virtio default"),
        ("disk-vda-host.txt", "ssd", 270553174016, "vda", "virtio default"),
        ("disk-nvme-partition.txt", "nvme", 1920383410176, "nvme0n1", "is NVMe"),
        ("disk-lvm-on-hdd.txt", "hdd", 3998614552576, "dm-0", "is rotational"),
        ("disk-sata-ssd.txt", "ssd", 480103981056, "sda", "not rotational"),
    ],
    ids=["overlay", "virtio", "nvme-partition", "lvm-hdd", "sata-ssd"],
)
def test_disk(fixture, storage, size, device, note):
    disk = parse_disk(lines(fixture))
    assert disk.storage == storage
    assert disk.size_bytes == size
    assert disk.device == device
    assert any(note in n for n in disk.notes), disk.notes
    # notes name the path asked for, so they do not change once the data directory exists
    assert all(disk.path in n for n in disk.notes)


def test_live_server_running():
    live = parse_live_server(lines("postgres-server-running.txt"))
    assert live is not None
    shared = live.parameters["shared_buffers"]
    assert (shared.unit, shared.context) == ("8kB", "postmaster")
    assert live.parameters["work_mem"].context == "user"
    assert live.parameters["timescaledb.max_background_workers"].setting == "16"
    assert live.started_at.startswith("20")
    assert live.pending_restart == []
    assert live.auto_conf == ()
    assert live.file_errors == ()


@pytest.mark.parametrize(
    ("row", "failure"),
    [
        ("W\x1f\x1f\x1f\x1f\x1ff", None),  # never failed
        ("W\x1f00000001000000000000000A\x1f2026-12-02 09:00:00+00\x1f\x1f\x1ff", None),
        (
            "W\x1f00000001000000000000000B\x1f2026-12-02 10:00:00+00\x1f\x1f\x1ft",
            "00000001000000000000000B at 2026-12-02 10:00:00+00",
        ),
    ],
)
def test_live_server_reports_an_archiver_failing_since_its_last_success(row, failure):
    """pg_stat_archiver's last failure counts when no segment was archived after it (the
    comparison is the server's own: the row's last field)."""
    live = parse_live_server([*lines("postgres-server-running.txt"), row])
    assert live.archive_failure == failure


def test_live_server_not_running():
    assert parse_live_server(lines("postgres-server-stopped.txt")) is None
    assert parse_live_server([]) is None


def test_live_server_reports_pending_restart_and_alter_system():
    sep = "\x1f"
    live = parse_live_server(
        [
            sep.join(["S", "shared_buffers", "16384", "8kB", "postmaster", "t"]),
            sep.join(["T", "2026-11-22 21:00:00+00", "", "", "", "f"]),
            sep.join(["A", "work_mem", "", "", "", "f"]),
            sep.join(["E", "work_mem", "/etc/postgresql.conf:12: invalid value", "", "", "f"]),
        ]
    )
    assert live.pending_restart == ["shared_buffers"]
    assert live.auto_conf == ("work_mem",)
    assert live.file_errors == ("work_mem: /etc/postgresql.conf:12: invalid value",)


def test_database_state():
    state = parse_database_state(lines("postgres-database.txt"))
    assert "klaviyo_analytics" in state.databases
    assert state.extensions["timescaledb"].startswith("2.")
    assert state.timescaledb_license == "apache"
    assert state.roles["postgres"] is None  # peer only: no password
    assert verify("fixture-password-0123456789", state.roles["klaviyo"])
    assert parse_database_state(["__TSDB_NOT_RUNNING__"]) is None


def test_table_indexes():
    """Recorded from a deployed host's klaviyo_events (TableIndexes' command)."""
    indexes = parse_table_indexes(lines("postgres-table-indexes.txt"))
    assert indexes["idx_klaviyo_events_properties_gin"] is True
    assert len(indexes) == 10 and all(indexes.values())
    invalid = ["table\x1ftrue\x1f", "index\x1fidx_klaviyo_events_properties_gin\x1ffalse"]
    assert parse_table_indexes(invalid) == {"idx_klaviyo_events_properties_gin": False}
    assert parse_table_indexes(["table\x1ffalse\x1f"]) is None  # no such table yet
    assert parse_table_indexes([]) is None  # no such database: psql printed nothing


def test_timescaledb_versions_on_disk_and_in_each_database():
    found = parse_timescaledb_state(lines("timescaledb-versions.txt"))
    assert found.available == "2.19.3"
    assert found.installed == {"klaviyo_analytics": "2.19.3"}
    assert found.closed == ()
    assert found.license == "timescale"
    assert parse_timescaledb_state(["__TSDB_NOT_RUNNING__"]) is None
    kept = parse_timescaledb_state(["A\x1f2.29.2", "X\x1fa\x1f2.19.3", "C\x1fa__pre_restore_1"])
    assert (kept.available, kept.installed, kept.closed, kept.license) == (
        "2.29.2", {"a": "2.19.3"}, ("a__pre_restore_1",), None
    )  # fmt: skip


def test_failing_jobs_are_diagnosed():
    failing = FailingJobs().process(lines("timescaledb-failing-jobs.txt"))
    assert [job for job, _, _ in failing] == ["3", "1000", "1001", "1002", "1003", "1004", "1005"]
    assert failing[3][1] == "Compression Policy [1002]"
    assert all(known_issues.diagnose(error) for _, _, error in failing)
    assert "PostgreSQL 17.12" in known_issues.diagnose(failing[0][2])
    assert known_issues.diagnose("could not serialize access") is None


def test_file_states_run_and_parse(tmp_path):
    """The fact's own command (bash, stat, sha256sum) on real files, then its parser."""
    import subprocess

    from tsdb_deploy.facts import FileState, FileStates

    secret = tmp_path / "server key"  # a space: every path is quoted
    secret.write_text("k")
    secret.chmod(0o600)
    tmp_path.chmod(0o700)
    paths = [str(tmp_path), str(secret), str(tmp_path / "missing")]
    run = subprocess.run(
        ["bash", "-c", FileStates().command(paths=paths)], capture_output=True, text=True
    )
    states = parse_states(run.stdout.splitlines())
    user, group = states[str(tmp_path)].user, states[str(tmp_path)].group
    assert states[str(tmp_path)] == FileState(user, group, 0o700, None)
    digest = "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a"
    assert states[str(secret)] == FileState(user, group, 0o600, digest)
    assert states[str(tmp_path / "missing")] is None


def test_disk_free_space_is_read_when_df_gives_it():
    recorded = lines("disk-overlay-container.txt")
    assert parse_disk(recorded).available_bytes is None  # recorded before it was read
    disk = parse_disk([*recorded, "available 52428800"])
    assert disk.available_bytes == 52428800
    assert disk == dataclasses.replace(parse_disk(recorded), available_bytes=52428800)
