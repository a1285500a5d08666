"""The bench host as the orchestrator sees it: commands through `docker exec`, psql, the agent,
PostgreSQL restarts, and dropping the caches for cold-cache queries.

PostgreSQL listens inside the test host only, so everything goes through `docker exec`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

AGENT_DIR = "/opt/tsdb-bench"
DATA_DIR = "/var/tmp/tsdb-bench"  # the generated workload, outside PGDATA
SERVICE = "postgresql@17-main"
PLAN_RECORD = "/etc/tsdb-deploy/plan.json"
_HERE = Path(__file__).resolve().parent


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


class BenchHost:
    def __init__(self, name: str):
        self.name = name

    def run(self, command: str, *, user: str | None = None, timeout: float = 3600) -> str:
        """A shell command in the host; its stdout, or BenchError with its stderr."""
        as_user = ["-u", user] if user else []
        try:
            proc = subprocess.run(
                ["docker", "exec", *as_user, self.name, "sh", "-c", command],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name}: timed out after {timeout:g}s: {command}") from None
        if proc.returncode != 0:
            raise BenchError(
                f"{self.name}: `{command[:300]}` failed ({proc.returncode}): "
                f"{proc.stderr.strip()[-2000:]}"
            )
        return proc.stdout

    def put(self, text: str, path: str) -> None:
        """Write a file in the host (readable by postgres) through docker exec's stdin."""
        proc = subprocess.run(
            [
                "docker",
                "exec",
                "-i",
                self.name,
                "sh",
                "-c",
                f"cat > {shlex.quote(path)} && chmod 644 {shlex.quote(path)}",
            ],
            input=text,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BenchError(f"{self.name}: cannot write {path}: {proc.stderr.strip()}")

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL as the superuser; unaligned, tuples only, stop at the first error."""
        return self.run(
            f"psql -X -q -At -v ON_ERROR_STOP=1 -d {shlex.quote(db)} -c {shlex.quote(sql)}",
            user="postgres",
        ).strip()

    def psql_timed(self, sql: str, db: str = "postgres") -> str:
        """psql's output with its own `Time: ... ms` line: the server round trip, without
        docker exec's start-up."""
        return self.run(
            f"psql -X -q -At -v ON_ERROR_STOP=1 -d {shlex.quote(db)} "
            f"-c '\\timing on' -c {shlex.quote(sql)}",
            user="postgres",
        )

    def psql_file(self, path: str, db: str, variables: dict[str, str] | None = None) -> str:
        flags = " ".join(f"-v {k}={shlex.quote(str(v))}" for k, v in (variables or {}).items())
        return self.run(
            f"psql -X -q -At -v ON_ERROR_STOP=1 {flags} -d {shlex.quote(db)} -f {path}",
            user="postgres",
        )

    def json_query(self, sql: str, db: str = "postgres"):
        return json.loads(self.psql(f"SELECT coalesce(json_agg(t), '[]') FROM ({sql}) t", db))

    # --- the agent ----------------------------------------------------------------------
    def install_agent(self) -> None:
        """python3-psycopg from Debian, and agent.py + workload.py beside each other."""
        self.run(
            "python3 -c 'import psycopg' 2>/dev/null || { apt-get update -q >/dev/null && "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-psycopg >/dev/null; }",
            timeout=900,
        )
        self.run(f"mkdir -p {AGENT_DIR} {DATA_DIR} && chown postgres: {DATA_DIR}")
        for name in ("agent.py", "workload.py"):
            self.put((_HERE / name).read_text(), f"{AGENT_DIR}/{name}")

    def agent(self, *args: str, timeout: float = 7200):
        out = self.run(
            f"python3 {AGENT_DIR}/agent.py {shlex.join(args)}", user="postgres", timeout=timeout
        )
        return json.loads(out)

    # --- the server ----------------------------------------------------------------------
    def plan_record(self) -> dict:
        return json.loads(self.run(f"cat {PLAN_RECORD}"))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [
                    "docker",
                    "exec",
                    "-u",
                    "postgres",
                    self.name,
                    "psql",
                    "-X",
                    "-At",
                    "-c",
                    "SELECT 1",
                ],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise BenchError(f"{self.name}: PostgreSQL did not accept connections within 120s")

    def stop(self) -> None:
        self.run(f"systemctl stop {SERVICE}")

    def start(self) -> None:
        self.run(f"systemctl start {SERVICE}")
        self.wait_ready()

    def restart(self) -> None:
        self.stop()
        self.start()

    def evict_buffers(self) -> int:
        """Empty shared_buffers without a restart: CHECKPOINT (evicting needs clean pages),
        then pg_buffercache_evict() on every buffer (PostgreSQL 17). Returns how many were
        pinned and stayed."""
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
        self.psql("CHECKPOINT")
        return int(
            self.psql(
                "SELECT count(*) FILTER (WHERE NOT pg_buffercache_evict(bufferid)) "
                "FROM pg_buffercache WHERE relfilenode IS NOT NULL"
            )
        )

    def container_cgroup(self, controller: str) -> Path | None:
        """The container's cgroup directory for `controller` (v1) or its unified one (v2),
        seen from this machine, found through the container's PID 1 (systemd, which moves
        itself into <container>/init.scope: the container's cgroup is its parent)."""
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", self.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            path = path.removesuffix("/init.scope")
            if controller in controllers.split(","):
                return Path(f"/sys/fs/cgroup/{controller}{path}")
            if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                return Path(f"/sys/fs/cgroup{path}")
        return None

    def drop_caches(self) -> str:
        """Evict the host's page cache (PostgreSQL must be stopped). Returns how:
        'cgroup' (the container's memory cgroup reclaimed: v1 memory.force_empty, v2
        memory.reclaim; only this host's pages, the rest of the machine keeps its cache),
        or 'none' (not permitted here: then cold means a fresh postmaster, empty
        shared_buffers, with the OS cache still warm)."""
        cgroup = self.container_cgroup("memory")
        if cgroup is None:
            return "none"
        for control, value in (("memory.force_empty", "0"), ("memory.reclaim", "1T")):
            path = cgroup / control
            if path.exists():
                try:
                    path.write_text(value)
                except OSError as exc:  # v2 reclaim reports EAGAIN when it fell short
                    if control == "memory.reclaim" and exc.errno == 11:
                        return "cgroup"
                    return "none"
                return "cgroup"
        return "none"

    def page_cache_bytes(self) -> int | None:
        """Page cache charged to the host's memory cgroup (v1 total_cache, v2 file)."""
        cgroup = self.container_cgroup("memory")
        stat = cgroup / "memory.stat" if cgroup else None
        if not stat or not stat.exists():
            return None
        fields = dict(line.split() for line in stat.read_text().splitlines())
        return int(fields.get("total_cache", fields.get("file", 0)))
