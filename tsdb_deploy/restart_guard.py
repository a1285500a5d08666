"""A restart of PostgreSQL waits for the backups running on the host, for a bounded time.

A restart ends every session: a running pg_dump fails, and a pgBackRest backup whose session
held pg_backup_start is aborted. So a deploy that must restart (a restart-level parameter, a
stale TimescaleDB loader) first waits until:

- tsdb-backup's lock (BACKUP_DIR/.lock, files/tsdb-backup) is free. Every tsdb-backup run and
  every in-place tsdb-restore holds it from start to end. The restart then holds it itself,
  so no backup from cron starts while the server goes down and comes back (that run waits,
  as it waits for another backup);
- no session of a backup tool is connected: pgBackRest names its sessions
  "pgBackRest [<command>]"; pg_dump, pg_dumpall and pg_basebackup use their program name
  as libpq's fallback application_name.

Past the wait (the `restart_backup_wait` setting), the restart is not done: one line names
what still runs. Nor is it done when the data directory's filesystem has less than
MIN_DATA_FREE free: a server stopped on a full disk may not start again (it writes
postmaster.pid, and after a crash an end-of-recovery checkpoint that can need a new WAL
segment), so a running one is left running. Either way postgresql.conf is in place by then
and the server runs its old values (nothing is reloaded), so the next deploy still finds the
difference and restarts.
Pure command strings: the operations run them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

BACKUP_LOCK_NAME = ".lock"  # in BACKUP_DIR: files/tsdb-backup's LOCK_NAME (a unit test pins it)
# bytes free on PGDATA's filesystem below which a deploy leaves the server alone (preflight
# refuses to start, a restart is not done): four 16 MiB WAL segments (wal_segment_size). A
# WAL segment that cannot be created stops PostgreSQL (PANIC), and a stopped one on a full
# disk does not start (its end-of-recovery checkpoint needs one).
MIN_DATA_FREE = 64 * 1024 * 1024
POLL_S = 2  # between two looks at the lock and the sessions
HOLDER_BYTES = 300  # of the lock file's holder line, as tsdb-backup reads it
JOIN_LINES = """awk 'NR > 1 { printf "; " } { printf "%s", $0 }'"""
BACKUP_TOOLS = ("pg_dump", "pg_dumpall", "pg_basebackup")
PGBACKREST_SESSIONS = "pgBackRest [%"  # LIKE pattern of pgBackRest's application_name

RUNNING_SESSIONS_SQL = (
    "SELECT format('%s (pid %s, since %s)', application_name, pid, "
    "to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')) "
    "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (application_name IN ("
    + ", ".join(f"'{t}'" for t in BACKUP_TOOLS)
    + f") OR application_name LIKE '{PGBACKREST_SESSIONS}') ORDER BY backend_start"
)


@dataclass(frozen=True)
class RestartGuard:
    backup_lock: str  # tsdb-backup's flock file
    wait_s: int  # how long a restart waits for running backups
    data_path: str = ""  # PGDATA as the host sees it: its filesystem must have room to start

    def _sessions(self, psql: str) -> str:
        """Shell: the backup tools' sessions, one per line; nothing when the server is down."""
        sql = shlex.quote(RUNNING_SESSIONS_SQL)
        return f"{psql} -X -A -t -q -d postgres -c {sql} 2>/dev/null"

    def running_command(self, psql: str) -> str:
        """Shell, always exit 0: what a restart would wait for now, one line each."""
        lock = self.lock_q
        return (
            f"if [ -e {lock} ]; then {{ flock -n 9 || echo \"tsdb-backup's lock "
            f"($(head -c {HOLDER_BYTES} {lock} | tr -d '\\n'))\"; }} 9<{lock}; fi; "
            f"{self._sessions(psql)}; true"
        )

    def around(self, restart: str, psql: str, reason: str) -> str:
        """Shell: `restart` once no backup runs, holding tsdb-backup's lock while it runs;
        past wait_s, exit 1 with one line and no restart. `reason`: what the restart applies,
        for that line."""
        lock = self.lock_q
        directory = shlex.quote(self.backup_lock.rsplit("/", 1)[0] or "/")
        gave_up = (
            f"PostgreSQL was not restarted: after {self.wait_s} s, still running: $busy. "
            "The new config is in place but not applied ($reason); deploy again once the "
            "backups have finished, or raise restart_backup_wait"
        )
        return "\n".join(
            [
                f"end=$(( $(date +%s) + {int(self.wait_s)} )); held=no; told=; "
                f"reason={shlex.quote(reason)}",
                # no backup directory yet: no tsdb-backup can run
                f"if [ -d {directory} ]; then",
                # created as tsdb-backup creates it, so its runs (as postgres) can open it
                f"  [ -e {lock} ] || {{ : > {lock} && chmod 600 {lock}"
                f" && chown --reference={directory} {lock}; }} || exit 1",
                f"  exec 9<{lock}",
                "else held=yes; fi",
                "while :; do",
                "  busy=",
                '  if [ "$held" = no ]; then',
                "    if flock -n 9; then held=yes",
                f"      printf 'pid %s: tsdb-deploy restarting PostgreSQL since %s\\n' $$"
                f" \"$(date -u '+%Y-%m-%dT%H:%M:%SZ')\" > {lock}",
                f"    else busy=\"tsdb-backup's lock ($(head -c {HOLDER_BYTES} {lock}"
                " | tr -d '\\n'))\"; fi",
                "  fi",
                f"  sessions=$({self._sessions(psql)} | {JOIN_LINES})",
                '  [ -z "$sessions" ] || busy="${busy:+$busy; }$sessions"',
                '  [ -n "$busy" ] || break',
                '  if [ "$(date +%s)" -ge "$end" ]; then',
                f'    echo "{gave_up}" >&2; exit 1',
                "  fi",
                '  [ -n "$told" ] || { told=1; echo "waiting up to '
                f'{self.wait_s} s for running backups before restarting PostgreSQL: $busy" >&2; }}',
                f"  sleep {POLL_S}",
                "done",
                *self._room_to_start(),
                f"( {restart} ); rc=$?",
                f'[ ! -e {lock} ] || [ "$held" != yes ] || : > {lock}',
                "exit $rc",
            ]
        )

    def _room_to_start(self) -> list[str]:
        """Shell: exit 1 with one line when PGDATA's filesystem has too little room to start
        a stopped server; nothing when PGDATA is unknown or absent (no server to stop)."""
        if not self.data_path:
            return []
        data = shlex.quote(self.data_path)
        need = MIN_DATA_FREE // (1024 * 1024)
        return [
            f"data={data}; free=$(df -P -B1 \"$data\" 2>/dev/null | awk 'NR == 2 {{ print $4 }}')",
            f'if [ -n "$free" ] && [ "$free" -lt {MIN_DATA_FREE} ]; then',
            '  echo "PostgreSQL was not restarted: the filesystem of $data has'
            f" $(( free / 1048576 )) MiB free, under the {need} MiB a stopped server needs to"
            " start again; it keeps running with the old config. Free space there and deploy"
            ' again ($reason)" >&2',
            f'  [ ! -e {self.lock_q} ] || [ "$held" != yes ] || : > {self.lock_q}',
            "  exit 1",
            "fi",
        ]

    @property
    def lock_q(self) -> str:
        return shlex.quote(self.backup_lock)
