"""The restart guard's shell, run for real: a flock holder and backup sessions (a stand-in psql
printing them) hold the restart back; past the wait it refuses in one line."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tsdb_deploy.restart_guard import BACKUP_LOCK_NAME, MIN_DATA_FREE, RestartGuard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lab(tmp_path):
    """A backup directory, a psql stand-in printing tmp/sessions (failing when absent: the
    server is down, unless tmp/running says it runs), and a restart that records what the lock
    file said while it ran."""
    backups = tmp_path / "backups"
    backups.mkdir()
    sessions = tmp_path / "sessions"
    psql = tmp_path / "psql"
    psql.write_text(f"#!/bin/sh\n[ -e {sessions} ] || exit 2\ncat {sessions}\n")
    psql.chmod(0o755)
    lock = backups / BACKUP_LOCK_NAME
    restart = f"cat {lock} > {tmp_path / 'restarted'}"
    RUNNING = f"[ -e {tmp_path / 'running'} ]"

    class Lab:
        path = tmp_path

        def guard(self, wait_s: int) -> RestartGuard:
            return RestartGuard(str(lock), wait_s)

        def run(self, wait_s: int, reason: str = "shared_buffers: 128MB -> 256MB"):
            script = self.guard(wait_s).around(restart, str(psql), RUNNING, reason)
            return subprocess.run(["sh", "-c", script], capture_output=True, text=True)

        def restarted(self) -> str | None:
            out = tmp_path / "restarted"
            return out.read_text() if out.exists() else None

    Lab.lock, Lab.sessions, Lab.backups, Lab.psql = lock, sessions, backups, psql
    return Lab()


def hold(lock: Path, seconds: float, holder: str) -> threading.Thread:
    """tsdb-backup's way: flock the file and write who holds it; free it after `seconds`."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, holder.encode(), 0)

    def free():
        time.sleep(seconds)
        os.ftruncate(fd, 0)
        os.close(fd)

    thread = threading.Thread(target=free)
    thread.start()
    return thread


def test_nothing_running_restarts_at_once_holding_the_backup_lock(lab):
    lab.sessions.write_text("")
    done = lab.run(wait_s=0)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # while the restart ran, the lock named the deploy; after it, the file is empty again
    assert re.fullmatch(r"pid \d+: tsdb-deploy restarting PostgreSQL since \S+Z\n",
                        lab.restarted())  # fmt: skip
    assert lab.lock.read_text() == ""
    assert lab.lock.stat().st_mode & 0o777 == 0o600


def test_a_server_that_is_down_has_no_sessions_to_wait_for(lab):
    assert not lab.sessions.exists()
    assert lab.run(wait_s=0).returncode == 0
    assert lab.restarted() is not None


def test_no_backup_directory_no_lock_to_take(lab, tmp_path):
    lab.sessions.write_text("")
    guard = RestartGuard(str(tmp_path / "none" / BACKUP_LOCK_NAME), 0)
    script = guard.around(f"touch {tmp_path / 'restarted'}", str(lab.psql), "false", "x")
    assert subprocess.run(["sh", "-c", script]).returncode == 0
    assert lab.restarted() is not None
    assert not (tmp_path / "none").exists()


def test_a_held_backup_lock_holds_the_restart_until_it_is_free(lab):
    lab.sessions.write_text("")
    holder = hold(lab.lock, 3, "pid 4242: tsdb-backup hourly since 2026-12-02T06:00:00Z\n")
    start = time.monotonic()
    done = lab.run(wait_s=60)
    holder.join()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start >= 3
    assert done.stderr.splitlines() == [
        "waiting up to 60 s for running backups before restarting PostgreSQL: tsdb-backup's "
        "lock (pid 4242: tsdb-backup hourly since 2026-12-02T06:00:00Z)"
    ]
    assert "tsdb-deploy restarting PostgreSQL" in lab.restarted()


def test_past_the_wait_no_restart_and_one_line_naming_what_runs(lab):
    lab.sessions.write_text(
        "pgBackRest [backup] (pid 77, since 2026-12-02 06:00:00 UTC)\n"
        "pg_dump (pid 78, since 2026-12-02 06:00:01 UTC)\n"
    )
    # a reason holding shell syntax stays text
    done = lab.run(wait_s=1, reason='x: "$(touch pwned)" `id` -> 1')
    assert done.returncode == 1
    assert lab.restarted() is None
    assert not (lab.path / "pwned").exists()
    *_, last = done.stderr.splitlines()
    assert last == (
        "PostgreSQL was not restarted: after 1 s, still running: pgBackRest [backup] (pid 77, "
        "since 2026-12-02 06:00:00 UTC); pg_dump (pid 78, since 2026-12-02 06:00:01 UTC). The "
        'new config is in place but not applied (x: "$(touch pwned)" `id` -> 1); deploy again '
        "once the backups have finished, or raise restart_backup_wait"
    )
    # it held tsdb-backup's lock while it waited; giving up, it leaves no holder line behind
    assert lab.lock.read_text() == ""


def test_sessions_ending_within_the_wait_let_the_restart_through(lab):
    lab.sessions.write_text("pg_dump (pid 78, since 2026-12-02 06:00:01 UTC)\n")
    threading.Timer(3, lab.sessions.write_text, args=("",)).start()
    done = lab.run(wait_s=60)
    assert done.returncode == 0, done.stderr
    assert "pg_dump (pid 78" in done.stderr
    assert lab.restarted() is not None


def test_the_restart_failing_fails_the_command_and_frees_the_lock(lab, tmp_path):
    lab.sessions.write_text("")
    script = lab.guard(0).around("echo 'no such unit' >&2; exit 5", str(lab.psql), "false", "x")
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (5, "no such unit\n")
    assert lab.lock.read_text() == ""


def test_running_command_lists_the_lock_holder_and_the_sessions(lab):
    lab.sessions.write_text("pgBackRest [backup] (pid 77, since 2026-12-02 06:00:00 UTC)\n")
    holder = hold(lab.lock, 1, "pid 4242: tsdb-restore since 2026-12-02T06:00:00Z\n")
    command = lab.guard(0).running_command(str(lab.psql))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    holder.join()
    assert out.stdout.splitlines() == [
        "tsdb-backup's lock (pid 4242: tsdb-restore since 2026-12-02T06:00:00Z)",
        "pgBackRest [backup] (pid 77, since 2026-12-02 06:00:00 UTC)",
    ]
    # free lock, server down: nothing, and still exit 0 (a fact)
    lab.sessions.unlink()
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert out.stdout == ""


def test_the_lock_is_tsdb_backups_own():
    text = (ROOT / "files" / "tsdb-backup").read_text()
    assert f'LOCK_NAME = "{BACKUP_LOCK_NAME}"' in text


def fake_df(tmp_path: Path, available: int) -> dict:
    """PATH with a df reporting `available` bytes free on every filesystem."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    df = bin_dir / "df"
    df.write_text(
        "#!/bin/sh\necho 'Filesystem 1-blocks Used Available Capacity Mounted on'\n"
        f"echo 'tmpfs 3221225472 3200000000 {available} 100% /var/lib/postgresql'\n"
    )
    df.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("available", "restarted"),
    [(MIN_DATA_FREE - 1, False), (MIN_DATA_FREE, True)],
    ids=["under", "enough"],
)
def test_a_full_data_disk_keeps_the_running_server(lab, tmp_path, available, restarted):
    lab.sessions.write_text("")
    guard = RestartGuard(str(lab.lock), 0, data_path=str(tmp_path))
    script = guard.around(
        f"touch {tmp_path / 'restarted'}", str(lab.psql), "false", "shared_buffers"
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          env=fake_df(tmp_path, available))  # fmt: skip
    assert (done.returncode == 0) is restarted, done.stderr
    assert (lab.restarted() is not None) is restarted
    if not restarted:
        assert done.stderr == (
            f"PostgreSQL was not restarted: the filesystem of {tmp_path} has 63 MiB free, under "
            "the 64 MiB a stopped server needs to start again; it keeps running with the old "
            "config. Free space there and deploy again (shared_buffers)\n"
        )
        assert lab.lock.read_text() == ""


def test_the_data_disk_check_reads_the_real_filesystem(lab, tmp_path):
    lab.sessions.write_text("")
    guard = RestartGuard(str(lab.lock), 0, data_path=str(tmp_path))
    script = guard.around(f"touch {tmp_path / 'restarted'}", str(lab.psql), "false", "x")
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert (done.returncode == 0) is (free >= MIN_DATA_FREE), done.stderr


def test_a_server_whose_sessions_cannot_be_read_is_waited_for(lab):
    """psql failing while the service runs (a refused login, a hung server) is not taken for
    "no backup": the restart waits, then refuses."""
    (lab.path / "running").touch()
    assert not lab.sessions.exists()
    done = lab.run(wait_s=1)
    assert done.returncode == 1 and lab.restarted() is None
    assert "still running: PostgreSQL's sessions could not be read." in done.stderr


def test_a_link_in_place_of_the_lock_is_refused_and_followed_nowhere(lab, tmp_path):
    """BACKUP_DIR belongs to postgres: a link planted as its lock must not make root write
    (or create, or show) the file it points to."""
    lab.sessions.write_text("")
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    lab.lock.symlink_to(target)
    done = lab.run(wait_s=0)
    assert done.returncode == 1 and lab.restarted() is None
    assert done.stderr == (
        f"PostgreSQL was not restarted: {lab.lock} is a symbolic link, not tsdb-backup's lock "
        "file; remove it and deploy again\n"
    )
    assert target.read_text() == "keep me\n"
    shown = subprocess.run(["sh", "-c", lab.guard(0).running_command(str(lab.psql))],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "keep me" not in shown.stdout
    lab.lock.unlink()
    missing = tmp_path / "missing"
    lab.lock.symlink_to(missing)
    assert lab.run(wait_s=0).returncode == 1
    assert not missing.exists()


def test_the_lock_is_created_with_its_directorys_owner_and_0600(lab):
    """As tsdb-backup (run as postgres) creates it, so that its runs can open it."""
    lab.sessions.write_text("")
    top = Path(tempfile.mkdtemp(prefix="tsdb-guard-"))  # reachable by another user, as /var is
    try:
        top.chmod(0o755)
        backups = top / "backups"
        backups.mkdir()
        os.chown(backups, 4321, 4321)
        lock = backups / BACKUP_LOCK_NAME
        script = RestartGuard(str(lock), 0).around("true", str(lab.psql), "false", "x")
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        st = lock.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4321, 0o600)
    finally:
        shutil.rmtree(top)
