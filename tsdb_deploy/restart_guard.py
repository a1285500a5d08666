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
MIB = 1024 * 1024
CONNECT_TIMEOUT_S = 5  # asking the server for its sessions: connecting,
QUERY_TIMEOUT_S = 15  # and the whole psql command
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

    def _preamble(self, psql: str) -> list[str]:
        """Shell: the lock's names and the helpers both commands use. Whatever is written to,
        created in or read from BACKUP_DIR is done with its owner's ids (postgres owns it): a
        link planted there makes root write or show nothing it should not."""
        directory = self.backup_lock.rsplit("/", 1)[0] or "/"
        sql = shlex.quote(RUNNING_SESSIONS_SQL)
        return [
            f"lock={shlex.quote(self.backup_lock)}; dir={shlex.quote(directory)}",
            "say() { printf '%s\\n' \"$*\" >&2; }",
            'as_owner() { setpriv --reuid="$(stat -c %u "$dir")" --regid="$(stat -c %g "$dir")"'
            ' --clear-groups -- "$@"; }',
            f"holder() {{ as_owner head -c {HOLDER_BYTES} \"$lock\" 2>/dev/null | tr -d '\\n'; }}",
            # the backup tools' sessions, one per line; fails when the server cannot be asked
            f"sessions() {{ timeout {QUERY_TIMEOUT_S} {psql} -X -A -t -q"
            f" -d 'dbname=postgres connect_timeout={CONNECT_TIMEOUT_S}' -c {sql} 2>/dev/null; }}",
        ]

    def running_command(self, psql: str) -> str:
        """Shell, always exit 0: what a restart would wait for now, one line each."""
        return "\n".join(
            [
                *self._preamble(psql),
                'if [ -e "$lock" ] && [ ! -L "$lock" ]; then',
                '  { flock -n 9 || echo "tsdb-backup\'s lock ($(holder))"; } 9<"$lock"',
                "fi",
                "sessions; true",
            ]
        )

    def around(self, restart: str, psql: str, is_running: str, reason: str) -> str:
        """Shell: `restart` once no backup runs, holding tsdb-backup's lock while it runs;
        past wait_s, exit 1 with one line and no restart. `is_running`: exits 0 while the
        server runs (sessions that cannot be read from a running server are waited for, as
        a backup would be). `reason`: what the restart applies, for the lines it writes."""
        wait = int(self.wait_s)
        return "\n".join(
            [
                *self._preamble(psql),
                f"end=$(( $(date +%s) + {wait} )); held=no; told=; reason={shlex.quote(reason)}",
                'free_lock() { [ "$held" != yes ] || [ ! -d "$dir" ] || '
                """as_owner sh -c ': > "$0"' "$lock" 2>/dev/null; }""",
                # no backup directory yet: no tsdb-backup can run
                'if [ -d "$dir" ]; then',
                '  if [ -L "$lock" ]; then say "PostgreSQL was not restarted: $lock is a symbolic'
                " link, not tsdb-backup's lock file; remove it and deploy again\"; exit 1; fi",
                # created as tsdb-backup creates it (0600, its owner's), so its runs can open it
                """  [ -e "$lock" ] || as_owner sh -c 'umask 077; : >> "$0"' "$lock" || exit 1""",
                '  exec 9<"$lock"',
                "else held=yes; fi",
                "while :; do",
                "  busy=",
                '  if [ "$held" = no ]; then',
                "    if flock -n 9; then held=yes",
                """      as_owner sh -c 'printf "%s\\n" "$1" > "$0"' "$lock" "pid $$: tsdb-deploy"""
                """ restarting PostgreSQL since $(date -u '+%Y-%m-%dT%H:%M:%SZ')\"""",
                '    else busy="tsdb-backup\'s lock ($(holder))"; fi',
                "  fi",
                f"  if found=$(sessions); then found=$(printf '%s\\n' \"$found\" | {JOIN_LINES})",
                f'  elif {is_running}; then found="PostgreSQL\'s sessions could not be read"',
                "  else found=; fi",
                '  [ -z "$found" ] || busy="${busy:+$busy; }$found"',
                '  [ -n "$busy" ] || break',
                '  if [ "$(date +%s)" -ge "$end" ]; then',
                f'    say "PostgreSQL was not restarted: after {wait} s, still running: $busy. The'
                " new config is in place but not applied ($reason); deploy again once the"
                ' backups have finished, or raise restart_backup_wait"; free_lock; exit 1',
                "  fi",
                f'  [ -n "$told" ] || {{ told=1; say "waiting up to {wait} s for running backups'
                ' before restarting PostgreSQL: $busy"; }',
                f"  sleep {POLL_S}",
                "done",
                *self._room_to_start(),
                f"( {restart} ); rc=$?",
                "free_lock",
                "exit $rc",
            ]
        )

    def _room_to_start(self) -> list[str]:
        """Shell: exit 1 with one line when the filesystem of PGDATA or of its pg_wal (which
        may be a link to a WAL disk) has too little room to start a stopped server; nothing
        for a path that does not exist (no server to stop)."""
        if not self.data_path:
            return []
        need = MIN_DATA_FREE // MIB
        paths = shlex.join([self.data_path, f"{self.data_path}/pg_wal"])
        return [
            f"for path in {paths}; do",
            """  free=$(df -P -B1 "$path" 2>/dev/null | awk 'NR == 2 { print $4 }')""",
            f'  if [ -n "$free" ] && [ "$free" -lt {MIN_DATA_FREE} ]; then',
            '    say "PostgreSQL was not restarted: the filesystem of $path has'
            f" $(( free / {MIB} )) MiB free, under the {need} MiB a stopped server needs to"
            " start again; it keeps running with the old config. Free space there and deploy"
            ' again ($reason)"',
            "    free_lock; exit 1",
            "  fi",
            "done",
        ]
