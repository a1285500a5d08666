"""Deploys that survive each other and themselves, on a real native host.

- The per-host deploy lock: a held lock refuses in one line before any change, or is waited
  for (deploy_lock_wait); a lock left by a killed run is taken over with a line saying so;
  --dry takes none; two deploys started at once are serialized.
- Interruption: a deploy with a pending restart-level change is killed (SIGKILL of pyinfra,
  lab/interrupt.py) after an operation; the next deploy converges, the one after changes
  nothing, PostgreSQL ran the old or the new settings and never a mix, and no data, logical
  backup, pgBackRest backup or archived WAL went missing. `make test` stops at the operations
  around the ones the change touches; TSDB_INTERRUPT_ALL=1 stops after every operation.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import interrupt, testhosts
from lab.testhosts import TestHost
from tsdb_deploy import deploy_lock as lock
from tsdb_deploy.pgbackrest import STANZA
from tsdb_deploy.settings import SETTINGS

from .conftest import ROOT, DeployResult, make_target
from .helpers import content_checksums, next_migration, project_copy

HOST = TestHost("tsdb-it-reliability", memory="2g", cpus=1)
EVERY_OPERATION = "TSDB_INTERRUPT_ALL"
REPORT = "TSDB_RELIABILITY_REPORT"  # a JSON file for the module's figures (make reliability)

# Two restart-level states of the same host: a deploy from one to the other changes
# postgresql.conf, reloads nothing on its own and restarts PostgreSQL once.
STATES = (
    {"postgres_overrides": {"work_mem": "6MB", "shared_buffers": "384MB"}},
    {"postgres_overrides": {"work_mem": "5MB", "shared_buffers": "320MB"}},
)


@pytest.fixture(scope="module")
def figures():
    """What each scenario tried and what it survived: a test adds its row once it passed."""
    rows: list[dict] = []
    yield rows
    if os.environ.get(REPORT):
        Path(os.environ[REPORT]).write_text(json.dumps(rows, indent=1) + "\n")


@pytest.fixture(scope="module")
def target(request, tmp_path_factory, lab_mirror):
    base = lab_mirror.inventory_data(SETTINGS["timescaledb_version"].default)
    target = make_target(request, tmp_path_factory, HOST, base)
    first = target.deploy(STATES[0])
    assert first.returncode == 0, first.output[-5000:]
    return target


def lock_text(target) -> str:
    return target.run("cat", lock.LOCK_PATH, check=False)


def hold(target, who: str, pid: int, *, here: bool = False, age_s: int = 0) -> lock.Holder:
    """Another run's lock on the host, its heartbeat `age_s` seconds old; `here`: a run on
    this machine, in this process space (else a machine elsewhere)."""
    controller = who.rsplit("@", 1)[-1]
    space = lock.process_space() if here else "elsewhere"
    holder = lock.Holder("feedc0de", who, controller, space, pid, int(time.time()) - age_s)
    target.run("sh", "-c", lock.acquire_command(holder))
    if age_s:
        target.run("touch", "-d", f"@{int(time.time()) - age_s}", lock.LOCK_PATH)
    return holder


def free(target) -> None:
    target.run("rm", "-f", lock.LOCK_PATH)


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_held_lock_refuses_in_one_line_before_any_change(target):
    holder = hold(target, "ops@elsewhere", 4242)
    try:
        started = target.postmaster_started()
        result = target.deploy(STATES[1])
        assert result.returncode != 0
        refusals = [line for line in result.output.splitlines()
                    if "another deploy holds this host's lock" in line]  # fmt: skip
        assert len(refusals) == 1, result.output[-3000:]
        assert holder.describe() in refusals[0] and "deploy_lock_wait is 0" in refusals[0]
        assert "nothing was changed" in refusals[0]
        # the run stopped at its first operation: the host still has the old settings
        assert target.show("work_mem") == "6MB" and target.postmaster_started() == started
        assert "token=feedc0de" in lock_text(target)  # not ours to free
    finally:
        free(target)


def test_dry_takes_no_lock_and_runs_beside_a_holder(target):
    hold(target, "ops@elsewhere", 4242)
    try:
        before = target.run("stat", "-c", "%Y %s", lock.LOCK_PATH)
        result = target.deploy(STATES[1], dry=True)
        assert result.returncode == 0, result.output[-3000:]
        assert any("postgresql.conf" in name for name in result.changing)
        assert target.run("stat", "-c", "%Y %s", lock.LOCK_PATH) == before
        assert "token=feedc0de" in lock_text(target)
    finally:
        free(target)
    assert target.deploy(STATES[0], dry=True).returncode == 0
    assert lock_text(target) == ""


def test_a_deploy_waits_for_a_holder_that_finishes(target):
    hold(target, "ops@elsewhere", 4242)
    # the holder finishes in 8 s (its deploy's last operation frees the lock), well before
    # its lock would count as gone (STALE_AFTER_S)
    target.run("sh", "-c", f"(sleep 8; rm -f {lock.LOCK_PATH}) >/dev/null 2>&1 &")
    result = target.deploy({**STATES[0], "deploy_lock_wait": 120})
    assert result.returncode == 0, result.output[-3000:]
    assert "waiting up to 120 s for the deploy lock of ops@elsewhere" in result.output
    assert "taking over" not in result.output
    assert lock_text(target) == ""


@pytest.mark.parametrize(
    ("age_s", "here", "reason"),
    [
        (0, True, "no longer exists"),
        (lock.STALE_AFTER_S + 60, False, "no heartbeat for"),
    ],
    ids=["killed-here", "silent-elsewhere"],
)
def test_a_lock_left_by_a_gone_run_is_taken_over(target, age_s, here, reason):
    who = f"ops@{socket.gethostname()}" if here else "ops@elsewhere"
    hold(target, who, dead_pid(), here=here, age_s=age_s)
    result = target.deploy(STATES[0])
    assert result.returncode == 0, result.output[-3000:]
    taken = [line for line in result.output.splitlines() if "taking over the deploy lock" in line]
    assert len(taken) == 1 and reason in taken[0], result.output[-3000:]
    assert result.changed == 0
    assert lock_text(target) == ""


def test_two_deploys_at_once_are_serialized(target, figures):
    """Both runs would change the same files and restart PostgreSQL: one does, after it the
    other finds nothing left to do."""
    data = {**STATES[1], "deploy_lock_wait": 300}
    runs = [target.start_deploy(data) for _ in range(2)]
    results = [target.finish(run) for run in runs]
    for r in results:
        assert r.returncode == 0, r.output[-5000:]
        assert "taking over" not in r.output, r.output[-5000:]
    assert any("waiting up to 300 s for the deploy lock" in r.output for r in results), [
        r.output[-2000:] for r in results
    ]
    assert sorted(r.changed > 0 for r in results) == [False, True]  # the second found it done
    assert target.show("shared_buffers") == "320MB"
    assert target.deploy(STATES[1]).changed == 0
    figures.append(fault("two deploys started at once on one host", "serialized by the lock"))


# --- interruption ---------------------------------------------------------------------------


def interrupted(target, data: dict, after: int | None, count: bool = False) -> DeployResult:
    """deploy.py with `data`, its pyinfra killed once `after` operations have ended."""
    cmd = target.deploy_command(data)
    wrapper = [sys.executable, "-m", "lab.interrupt"]
    wrapper += ["--after", str(after)] if after else []
    wrapper += ["--count"] if count else []
    proc = subprocess.run(wrapper + cmd[3:], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    return DeployResult.of(proc)


def live_settings(target) -> str:
    return target.psql(
        "SELECT string_agg(name || '=' || setting || ':' || pending_restart, ' ' ORDER BY name) "
        "FROM pg_settings WHERE name IN ('work_mem', 'shared_buffers')"
    )


def safekept(target) -> dict:
    """What must never go missing: every table's rows, the logical backups, pgBackRest's
    backups and the newest WAL segment it archived."""
    pgbackrest = json.loads(target.run(
        "runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={STANZA}", "info",
        "--output=json",
    ))[0]  # fmt: skip
    return {
        "tables": content_checksums(target),
        "logical": set(
            target.run(
                "find", "/var/backups/tsdb", "-mindepth", "2", "-type", "f", "-printf", "%P %s\n"
            ).split("\n")  # the tiers' backups, not the log
        )
        - {""},  # fmt: skip
        "backups": {b["label"] for b in pgbackrest["backup"]},
        "wal": max(a["max"] for a in pgbackrest["archive"]),
    }


def assert_nothing_lost(before: dict, after: dict) -> None:
    assert after["tables"] == before["tables"]
    assert after["logical"] >= before["logical"]
    assert after["backups"] >= before["backups"]
    assert after["wal"] >= before["wal"]


def fault(scenario: str, outcome: str) -> dict:
    return {"kind": "fault", "scenario": scenario, "outcome": outcome, "lost": 0}


def stop_points(target) -> tuple[list[int], int]:
    """Operation counts to stop after, and the run's operations: all of them with
    TSDB_INTERRUPT_ALL=1, else those around each operation a restart-level change touches,
    the first and the last."""
    dry = target.deploy(STATES[1], dry=True)
    assert dry.returncode == 0, dry.output[-3000:]
    total = len(dry.plan)
    if os.environ.get(EVERY_OPERATION):
        return list(range(1, total)), total
    changing = [i + 1 for i, op in enumerate(dry.plan) if op["hosts_with_change"]]
    assert changing, dry.plan
    points = {1, total - 1} | {p for i in changing for p in (i - 1, i)}
    return sorted(p for p in points if 1 <= p < total), total


def test_a_deploy_killed_after_any_operation_converges_and_loses_nothing(target, figures):
    assert target.deploy(STATES[0]).returncode == 0
    target.psql("CREATE TABLE IF NOT EXISTS public.interruption_canary AS "
                "SELECT g AS n FROM generate_series(1, 1000) g")  # fmt: skip
    points, total = stop_points(target)
    before = safekept(target)
    state, tried = 0, []
    for after in points:
        want = STATES[1 - state]
        conf = target.plan_record()["deployment"]["conf_path"]
        old = (target.sha256(conf), live_settings(target))
        cut = interrupted(target, want, after)
        assert cut.returncode == interrupt.KILLED, (after, cut.output[-3000:])
        mid = (target.sha256(conf), live_settings(target))
        converge = target.deploy(want)
        assert converge.returncode == 0, (after, converge.output[-5000:])
        assert "taking over the deploy lock" in converge.output, after  # the killed run's
        again = target.deploy(want)
        assert again.returncode == 0 and again.changed == 0, (after, again.output[-5000:])
        new = (target.sha256(conf), live_settings(target))
        assert mid[0] in (old[0], new[0]), after  # the file: one or the other, whole
        assert mid[1] in (old[1], new[1]), (after, mid, old, new)  # never a reload alone
        assert "true" not in new[1], new  # nothing pending after the converging run
        assert_nothing_lost(before, safekept(target))
        assert lock_text(target) == ""
        state, tried = 1 - state, [*tried, after]
    assert tried == points
    figures.append({"kind": "interruption", "scenario": "converged host, pending restart-level "
                    "change", "stops": len(points), "operations": total,
                    "survived": len(points), "lost": 0})  # fmt: skip


BARE = TestHost("tsdb-it-reliability-bare", memory="2g", cpus=1)


def test_a_first_deploy_killed_midway_converges_on_the_next(
    request, tmp_path_factory, lab_mirror, figures
):
    """From a bare host, killed once PostgreSQL runs and before the schema's migrations (with
    TSDB_INTERRUPT_ALL=1: after every operation, each on a new bare host): the next deploy
    converges and the one after changes nothing."""
    base = lab_mirror.inventory_data(SETTINGS["timescaledb_version"].default)
    bare = make_target(request, tmp_path_factory, BARE, base)
    dry = bare.deploy(STATES[0], dry=True)
    assert dry.returncode == 0, dry.output[-3000:]
    names = [op["name"] for op in dry.plan]
    if os.environ.get(EVERY_OPERATION):
        points = list(range(1, len(names)))
    else:
        points = [next(i for i, name in enumerate(names) if "migrations" in name.lower())]
    for n, after in enumerate(points):
        if n:
            testhosts.start(BARE)
        cut = interrupted(bare, STATES[0], after)
        assert cut.returncode == interrupt.KILLED, (after, cut.output[-3000:])
        converge = bare.deploy(STATES[0])
        assert converge.returncode == 0, (after, converge.output[-5000:])
        assert "taking over the deploy lock" in converge.output, after
        again = bare.deploy(STATES[0])
        assert again.returncode == 0 and again.changed == 0, (after, again.output[-5000:])
        assert bare.show("shared_buffers") == "384MB"
        assert lock_text(bare) == ""
    figures.append({"kind": "interruption", "scenario": "bare host, first deploy",
                    "stops": len(points), "operations": len(names), "survived": len(points),
                    "lost": 0})  # fmt: skip


# --- faults -----------------------------------------------------------------------------------

# Holds apt's and dpkg's locks as unattended-upgrades does while it installs (fcntl locks,
# which apt takes) until an apt-get of the deploy has been waiting for them a while (or
# 240 s); writes whether it saw one, and when it let go.
APT_HOLDER = """
import fcntl, glob, time
locks = [open(p, "a") for p in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock",
                                "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock")]
for f in locks:
    fcntl.lockf(f, fcntl.LOCK_EX)
open("/tmp/apt-held", "w").write("held")

# the deploy's apt commands (operations/packages.py): install waits with DPkg::Lock::Timeout,
# update in a shell loop that looks for apt's lock message; spelled in two parts so that
# this program's own command line does not match
MARKS = (b"DPkg::Lock::" + b"Timeout=", b"Could not get " + b"lock")

def apt_get_waiting():
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            command = open(path, "rb").read()
        except OSError:
            continue
        if any(mark in command for mark in MARKS):
            return True
    return False

deadline = time.time() + 240
while not apt_get_waiting() and time.time() < deadline:
    time.sleep(0.2)
seen = apt_get_waiting()
time.sleep(8)
open("/tmp/apt-seen", "w").write(str(seen))
open("/tmp/apt-released", "w").write(str(time.time()))
"""


def test_a_deploy_waits_for_apt_held_by_another_process(target, figures):
    """A package to install while another process holds apt: the deploy waits for it (as
    behind unattended-upgrades) instead of failing, and installs once it is free."""
    package = "prometheus-node-exporter"
    target.run("apt-get", "remove", "-y", "-q", package)
    target.run("rm", "-f", "/tmp/apt-held", "/tmp/apt-seen", "/tmp/apt-released")
    target.run("sh", "-c", 'nohup python3 -c "$0" >/dev/null 2>&1 &', APT_HOLDER)
    target.run("sh", "-c", "for i in $(seq 50); do [ -e /tmp/apt-held ] && exit 0; sleep 0.2; "
               "done; exit 1")  # fmt: skip
    result = target.deploy(STATES[0])
    assert result.returncode == 0, result.output[-5000:]
    assert target.run("cat", "/tmp/apt-seen") == "True"  # the deploy's apt-get was waiting
    released = float(target.run("cat", "/tmp/apt-released"))
    # dpkg logs in the host's local time (UTC here): its install began after the holder let go
    installed = target.run("sh", "-c", f"grep ' install {package}:' /var/log/dpkg.log | tail -1")
    when = time.mktime(time.strptime(installed[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone
    assert when >= int(released), (installed, released)
    assert target.run("systemctl", "is-active", package).strip() == "active"
    assert target.deploy(STATES[0]).changed == 0
    figures.append(fault("apt and dpkg locked by another process", "waited, then installed"))


def test_a_reboot_right_after_a_deploy_brings_every_service_back(target, figures):
    assert target.deploy(STATES[0]).returncode == 0
    before = safekept(target)
    assert testhosts.reboot(target.name) in ("running", "degraded")
    units = ["postgresql@17-main", "pgbouncer", "cron", "prometheus-postgres-exporter",
             "prometheus-pgbouncer-exporter", "prometheus-node-exporter"]  # fmt: skip
    for unit in units:
        deadline = time.monotonic() + 60
        while (state := target.run("systemctl", "is-active", unit, check=False).strip()) != (
            "active"
        ) and time.monotonic() < deadline:
            time.sleep(1)
        assert state == "active", unit
    assert target.show("shared_buffers") == "384MB"  # the deployed settings, not defaults
    status = target.run("sh", "-c", "tsdb-status >/dev/null; echo $?").strip()
    assert status in ("0", "1"), target.run("tsdb-status", check=False)  # 1: known_issues
    again = target.deploy(STATES[0])
    assert again.returncode == 0 and again.changed == 0, again.output[-5000:]
    assert_nothing_lost(before, safekept(target))
    figures.append(fault("host rebooted right after a deploy", "every service back"))


def test_a_failed_operation_leaves_no_lock_behind(target, tmp_path):
    """A migration that fails stops the run on the host: its lock is freed (at once, by the
    failure callback: tests/unit/test_lock_operations.py), not left for the next run to take
    over."""
    project = project_copy(tmp_path, {f"{next_migration('fails')}.sql": "SELECT 1/0;\n"})
    result = target.deploy(STATES[0], project=project)
    assert result.returncode != 0 and "division by zero" in result.output, result.output[-3000:]
    assert lock_text(target) == ""
    again = target.deploy(STATES[0])  # rewrites plan.json, which named the failed migration
    assert again.returncode == 0, again.output[-3000:]
    assert "taking over the deploy lock" not in again.output
    assert target.deploy(STATES[0]).changed == 0


# Backups paused mid-run (SIGSTOP, as a stalled disk would hold them): tsdb-backup's pg_dump as
# soon as it starts (tsdb-backup holds its lock), pgBackRest once its session is connected
# (pgBackRest takes no lock of ours: the restart sees its session). Each runs in the
# background and writes its exit status and end time to /tmp/<name>.done.
PAUSE_PG_DUMP = (
    "for i in $(seq 6000); do pkill -STOP -x pg_dump && exit 0; sleep 0.01; done; exit 1"
)
PAUSE_PGBACKREST = (
    'for i in $(seq 3000); do [ "$(runuser -u postgres -- psql -XAtq -d postgres -c "SELECT '
    "count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgBackRest [%'\")\" != 0 ] "
    "&& pkill -STOP -x pgbackrest && exit 0; sleep 0.02; done; exit 1"
)
BACKUPS = {
    "tsdb-backup": ("tsdb-backup hourly", PAUSE_PG_DUMP),
    "pgbackrest": (f"runuser -u postgres -- pgbackrest --stanza={STANZA} --type=incr backup",
                   PAUSE_PGBACKREST),
}  # fmt: skip


def start_paused(target, *names: str) -> None:
    """The named backups started and paused mid-run."""
    for name in names:
        command, pause = BACKUPS[name]
        target.run("rm", "-f", f"/tmp/{name}.done", f"/tmp/{name}.paused")
        target.run("sh", "-c", f'nohup sh -c "$0" >/tmp/{name}.pause.log 2>&1 &',
                   f"({pause}); echo $? > /tmp/{name}.paused")  # fmt: skip
        target.run("sh", "-c", f'nohup sh -c "$0" >/tmp/{name}.log 2>&1 &',
                   f'{command}; echo "$? $(date +%s)" > /tmp/{name}.done')  # fmt: skip
        target.run("sh", "-c", f"for i in $(seq 600); do [ -e /tmp/{name}.paused ] && exit 0; "
                   "sleep 0.1; done; exit 1")  # fmt: skip
        assert target.run("cat", f"/tmp/{name}.paused").strip() == "0", name


def resume_and_finish(target, *names: str) -> list[int]:
    """The paused backups resumed; each one's end time once it succeeded."""
    # runuser stops itself when its child is stopped, and goes on only when continued too
    target.run("sh", "-c", "pkill -CONT -x pg_dump; pkill -CONT -x pgbackrest; "
               "pkill -CONT -x runuser; true")  # fmt: skip
    ends = []
    for name in names:
        target.run("sh", "-c", f"for i in $(seq 600); do [ -e /tmp/{name}.done ] && exit 0; "
                   "sleep 0.5; done; exit 1")  # fmt: skip
        status, end = target.run("cat", f"/tmp/{name}.done").split()
        assert status == "0", (name, target.run("cat", f"/tmp/{name}.log"))
        ends.append(int(end))
    return ends


def postmaster_epoch(target) -> int:
    return int(float(target.psql("SELECT extract(epoch FROM pg_postmaster_start_time())")))


def test_a_restart_waits_for_running_backups(target, figures):
    """A restart-level change while a logical backup and a pgBackRest backup run: the deploy
    says what it waits for and restarts only once both have finished (and succeeded)."""
    assert target.deploy(STATES[0]).returncode == 0
    before = safekept(target)
    started = target.postmaster_started()
    start_paused(target, "tsdb-backup", "pgbackrest")
    try:
        proc = target.start_deploy(STATES[1])
        # the restart's guard has started (its text is in its command line); with both
        # backups paused it cannot get past them
        waiting = ["pgrep", "-f", "waiting up to 600 s for running backups"]
        deadline = time.monotonic() + 300
        while target.run(*waiting, check=False) == "":
            assert proc.poll() is None and time.monotonic() < deadline, target.finish(proc).output
            time.sleep(0.5)
        time.sleep(6)  # three looks at the backups, still running: no restart
        assert target.postmaster_started() == started
        assert proc.poll() is None
    finally:
        ends = resume_and_finish(target, "tsdb-backup", "pgbackrest")
    result = target.finish(proc)
    assert result.returncode == 0, result.output[-5000:]
    said = [line for line in result.output.splitlines() if "waits up to 600 s" in line]
    assert len(said) == 1, result.output[-3000:]
    assert "tsdb-backup's lock (pid" in said[0] and "tsdb-backup hourly" in said[0], said
    assert "pgBackRest [backup] (pid" in said[0], said
    assert postmaster_epoch(target) >= max(ends)  # restarted after both had ended
    assert target.show("shared_buffers") == "320MB"
    after = safekept(target)
    assert_nothing_lost(before, after)
    assert len(after["logical"]) > len(before["logical"])
    assert len(after["backups"]) > len(before["backups"])
    assert target.deploy(STATES[1]).changed == 0
    figures.append(fault("a deploy with a restart while tsdb-backup and pgBackRest run",
                         "the restart waited; both backups succeeded"))  # fmt: skip


def test_a_restart_that_would_cut_a_backup_is_refused_past_its_wait(target, figures):
    """restart_backup_wait runs out while a pgBackRest backup runs: one line, no restart and
    no reload (the old settings stay live, whole); the backup succeeds; a rerun restarts."""
    target.deploy(STATES[1])
    before = safekept(target)
    started, live = target.postmaster_started(), live_settings(target)
    start_paused(target, "pgbackrest")
    try:
        result = target.deploy({**STATES[0], "restart_backup_wait": 4})
    finally:
        resume_and_finish(target, "pgbackrest")
    assert result.returncode != 0
    refused = [line for line in result.output.splitlines() if "was not restarted" in line]
    assert len(refused) == 1, result.output[-3000:]
    assert "after 4 s, still running: pgBackRest [backup] (pid" in refused[0]
    assert "shared_buffers: 320MB -> 384MB" in refused[0] and "restart_backup_wait" in refused[0]
    assert target.postmaster_started() == started
    assert live_settings(target) == live  # not reloaded: the old settings, whole
    assert lock_text(target) == ""
    assert target.run("cat", "/var/backups/tsdb/.lock") == ""  # tsdb-backup's: no stale holder
    again = target.deploy(STATES[0])
    assert again.returncode == 0, again.output[-5000:]
    assert target.show("shared_buffers") == "384MB" and target.show("work_mem") == "6MB"
    assert target.deploy(STATES[0]).changed == 0
    after = safekept(target)
    assert_nothing_lost(before, after)
    assert len(after["backups"]) > len(before["backups"])
    figures.append(
        fault(
            "a restart past restart_backup_wait while pgBackRest runs",
            "one error, no restart; the backup succeeded; the rerun restarted",
        )
    )


HBA = "/etc/postgresql/17/main/pg_hba.conf"
LOCKED_OUT = "local all postgres reject"  # an operator's hand edit, first line


def test_a_running_server_that_refuses_the_deploy_is_not_restarted(target, figures):
    """The deploy's queries refused while PostgreSQL runs (pg_hba.conf edited by hand): the
    deploy stops with psql's reason and takes the server for neither stopped nor changed;
    no restart. Let in again, it has nothing to change."""
    assert target.deploy(STATES[0]).returncode == 0
    started, live = target.postmaster_started(), live_settings(target)
    target.run("sed", "-i", f"1i {LOCKED_OUT}", HBA)
    target.run("pg_ctlcluster", "17", "main", "reload")
    try:
        result = target.deploy(STATES[0])
        hba_after = target.run("cat", HBA)
    finally:
        target.run("sed", "-i", f"/^{LOCKED_OUT}$/d", HBA)
        target.run("pg_ctlcluster", "17", "main", "reload")
    assert result.returncode != 0
    assert 'pg_hba.conf rejects connection for host "[local]", user "postgres"' in result.output
    for never in ("Restarting PostgreSQL", "is not running", "Reloading PostgreSQL"):
        assert never not in result.output, result.output[-5000:]
    assert hba_after.splitlines()[0] == LOCKED_OUT  # stopped before changing anything
    assert target.postmaster_started() == started
    assert live_settings(target) == live
    assert lock_text(target) == ""
    assert target.deploy(STATES[0]).changed == 0
    figures.append(fault("a running server that refuses the deploy's queries",
                         "psql's reason, no restart, no change"))  # fmt: skip


def unapplied_then_applied_once(
    target, state: dict, project: Path, name: str, table: str, rows: int, before: dict
) -> None:
    """After a migration failed midway: this project's deploy (which starts PostgreSQL again
    if the failure stopped it) finds neither the migration's table nor its ledger row, and
    nothing else lost; the project copy holding the migration then applies it once."""
    back = target.deploy(state)
    assert back.returncode == 0, back.output[-5000:]
    assert name not in target.psql(
        "SELECT string_agg(name, ' ') FROM tsdb_deploy.schema_migrations"
    )
    assert target.psql(f"SELECT to_regclass('{table}') IS NULL") == "t"
    assert_nothing_lost(before, safekept(target))
    applied = target.deploy(state, project=project)
    assert applied.returncode == 0, applied.output[-5000:]
    assert target.psql(f"SELECT count(*) FROM {table}") == str(rows)
    assert target.deploy(state, project=project).changed == 0


SLOW_MIGRATION = """
CREATE TABLE public.fault_probe (n int NOT NULL);
INSERT INTO public.fault_probe SELECT generate_series(1, 1000);
SELECT pg_sleep(30);
"""


def test_postmaster_killed_during_a_migration_leaves_it_unapplied(target, tmp_path, figures):
    """kill -9 of the postmaster while a migration runs: the deploy fails on psql's error,
    the migration is not half there (its table and ledger row both absent once PostgreSQL is
    back), the next deploy applies it once, nothing else is lost. Last: the host's ledger
    then holds a migration only this test's project copy has."""
    name = next_migration("fault_probe")
    project = project_copy(tmp_path, {f"{name}.sql": SLOW_MIGRATION})
    before = safekept(target)
    proc = target.start_deploy(STATES[0], project=project)
    running = ("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
               "AND pid <> pg_backend_pid()")  # fmt: skip
    deadline = time.monotonic() + 300
    while target.psql(running) != "1":
        assert proc.poll() is None and time.monotonic() < deadline, target.finish(proc).output
        time.sleep(0.5)
    # a run longer than a heartbeat keeps its lock fresh (pyinfra's own process renews it)
    time.sleep(lock.HEARTBEAT_S + 3)
    age = int(target.run("sh", "-c", f"echo $(( $(date +%s) - $(stat -c %Y {lock.LOCK_PATH}) ))"))
    assert age <= lock.HEARTBEAT_S + 1, age
    data = target.plan_record()["deployment"]["data_directory"]
    target.run("sh", "-c", f"kill -9 $(head -1 {data}/postmaster.pid)")
    crashed = target.finish(proc)
    assert crashed.returncode != 0
    assert "server closed the connection unexpectedly" in crashed.output, crashed.output[-3000:]

    unapplied_then_applied_once(target, STATES[0], project, name, "public.fault_probe", 1000,
                                before)  # fmt: skip
    figures.append(fault("postmaster killed (-9) during a migration",
                         "one error; not applied; the rerun applied it once"))  # fmt: skip


# --- the data disk full ------------------------------------------------------------------------

# PostgreSQL's own filesystem, small enough to fill: a tmpfs mounted where the cluster will be
# (a loop device needs more than the test hosts may have). 3 GiB: the planner keeps a tenth of
# a disk shared with WAL for WAL and wants at least 256 MiB there; only what is written to it
# takes memory, hence the host's 5 GiB.
DISK = TestHost("tsdb-it-reliability-disk", memory="5g", cpus=1)
DATA_DISK = "/var/lib/postgresql"
FILLER = f"{DATA_DISK}/filler"


@pytest.fixture(scope="module")
def disk_target(request, tmp_path_factory, lab_mirror):
    base = lab_mirror.inventory_data(SETTINGS["timescaledb_version"].default)
    target = make_target(request, tmp_path_factory, DISK, base)
    target.run("sh", "-c", f"mkdir -p {DATA_DISK} && mount -t tmpfs -o size=3g,mode=755 "
               f"tsdb-data {DATA_DISK}")  # fmt: skip
    first = target.deploy(STATES[0])
    assert first.returncode == 0, first.output[-5000:]
    return target


def fill(target, leave_mib: int) -> None:
    """The data disk filled but for `leave_mib` MiB."""
    target.run("sh", "-c", f"free=$(df -P -B1 {DATA_DISK} | awk 'NR == 2 {{ print $4 }}'); "
               f"fallocate -l $(( free - {leave_mib} * 1048576 )) {FILLER}")  # fmt: skip


def test_a_full_data_disk_refuses_the_deploy_and_keeps_the_server_running(disk_target, figures):
    """On a full data disk the deploy refuses in one line before any step: its own steps would
    stop the server (a WAL segment it cannot create is a PANIC; tried: pgbackrest check's WAL
    switch did it). 40 MiB are left: two segments, so PostgreSQL itself lasts the test."""
    target = disk_target
    before = safekept(target)
    started, live = target.postmaster_started(), live_settings(target)
    fill(target, leave_mib=40)
    try:
        result = target.deploy(STATES[1])
        assert result.returncode != 0
        refused = [line for line in result.output.splitlines() if "data disk is full" in line]
        assert len(refused) == 1, result.output[-3000:]
        assert f"the filesystem of {DATA_DISK}/17/main ({DATA_DISK}) has" in refused[0], refused
        assert "under the 64 MiB" in refused[0] and "nothing was changed" in refused[0]
        assert "Starting operation" not in result.output  # refused while planning
        assert target.postmaster_started() == started and live_settings(target) == live
        assert lock_text(target) == ""
    finally:
        target.run("rm", "-f", FILLER)
    again = target.deploy(STATES[1])
    assert again.returncode == 0, again.output[-5000:]
    assert target.show("shared_buffers") == "320MB"
    assert target.deploy(STATES[1]).changed == 0
    assert_nothing_lost(before, safekept(target))
    figures.append(fault("the data disk full during a deploy",
                         "refused before any step; the server kept running"))  # fmt: skip


# about 250 MB of rows: more than the 100 MiB the test leaves free
FILLING_MIGRATION = """
CREATE TABLE public.disk_probe AS
SELECT g AS n, md5(g::text) || repeat('x', 160) AS pad FROM generate_series(1, 1000000) g;
"""


def test_a_full_data_disk_during_a_migration_leaves_it_unapplied(disk_target, tmp_path, figures):
    """A migration that runs out of disk fails the deploy in one error, leaves neither its
    table nor its ledger row, and applies once there is room again. Last of the disk host's
    tests: its ledger then holds a migration only this test's project copy has."""
    target = disk_target
    name = next_migration("disk_probe")
    project = project_copy(tmp_path, {f"{name}.sql": FILLING_MIGRATION})
    before = safekept(target)
    fill(target, leave_mib=100)
    try:
        result = target.deploy(STATES[1], project=project)
        assert result.returncode != 0
        assert "No space left on device" in result.output or (
            "server closed the connection unexpectedly" in result.output  # WAL's ENOSPC: PANIC
        ), result.output[-3000:]
    finally:
        target.run("rm", "-f", FILLER)
    unapplied_then_applied_once(target, STATES[1], project, name, "public.disk_probe", 1000000,
                                before)  # fmt: skip
    figures.append(fault("the data disk full during a migration",
                         "one error; not applied; applied once there was room"))  # fmt: skip
