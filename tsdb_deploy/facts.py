"""What a host is: its effective resources, disks, and the live PostgreSQL state.

Each fact runs one shell command and hands the raw lines to a pure parser (tested on recorded
outputs in tests/fixtures/). Facts report; they never decide. Where a value has to be assumed,
the fact says so in its `notes`, which end up in the plan and the rendered config header.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .units import format_size

NO_LIMIT = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63-1


# --- effective memory and CPUs (cgroup-aware) -------------------------------------------

_CGROUP_FILES = (
    "memory.max",
    "memory.limit_in_bytes",
    "cpu.max",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
    "cpuset.cpus.effective",
    "cpuset.effective_cpus",
)
_CONTROLLER_DIRS = (
    "/sys/fs/cgroup",
    "/sys/fs/cgroup/memory",
    "/sys/fs/cgroup/cpu",
    "/sys/fs/cgroup/cpu,cpuacct",
    "/sys/fs/cgroup/cpuset",
)


@dataclass(frozen=True)
class Resources:
    memory_bytes: int
    cpus: float
    notes: tuple[str, ...] = field(default=())


def _cpuset_count(text: str) -> int:
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def parse_resources(lines: list[str]) -> Resources:
    """Host totals, lowered by every cgroup limit on the path from the root to PostgreSQL."""
    host_memory = online = None
    files: dict[str, str] = {}
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "meminfo_kb":  # kB: some awks print large products in exponent form
            host_memory = int(rest) * 1024
        elif kind == "online":
            online = int(rest)
        elif kind == "file":
            path, _, value = rest.partition(" ")
            files[path] = value.strip()
    if not host_memory or not online:
        raise ValueError("no MemTotal in /proc/meminfo or no online CPU count")

    notes = []
    memory, memory_from = host_memory, "/proc/meminfo"
    quota, quota_from = None, None
    cpuset, cpuset_from = None, None
    for path, value in sorted(files.items()):
        name = path.rsplit("/", 1)[1]
        directory = path.rsplit("/", 1)[0]
        if name in ("memory.max", "memory.limit_in_bytes") and value != "max":
            limit = int(value)
            if limit < NO_LIMIT and limit < memory:
                memory, memory_from = limit, path
        elif name == "cpu.max":
            q, _, period = value.partition(" ")
            if q != "max":
                cpus = int(q) / int(period)
                if quota is None or cpus < quota:
                    quota, quota_from = cpus, path
        elif name == "cpu.cfs_quota_us" and int(value) > 0:
            period = int(files.get(f"{directory}/cpu.cfs_period_us", "100000"))
            cpus = int(value) / period
            if quota is None or cpus < quota:
                quota, quota_from = cpus, path
        elif name in ("cpuset.cpus.effective", "cpuset.effective_cpus") and value:
            count = _cpuset_count(value)
            if cpuset is None or count < cpuset:
                cpuset, cpuset_from = count, path

    if memory_from == "/proc/meminfo":
        notes.append(f"memory: no cgroup limit; host total {format_size(host_memory)}")
    else:
        notes.append(
            f"memory: cgroup limit {format_size(memory)} ({memory_from}), host has "
            f"{format_size(host_memory)}"
        )
    cpus, cpus_from = float(online), f"{online} online CPUs"
    if cpuset is not None and cpuset < cpus:
        cpus, cpus_from = float(cpuset), f"cpuset of {cpuset} CPUs ({cpuset_from})"
    if quota is not None and quota < cpus:
        cpus, cpus_from = round(quota, 2), f"CPU quota {quota:g} ({quota_from})"
    notes.append(f"cpus: {cpus_from}")
    return Resources(memory, cpus, tuple(notes))


class EffectiveResources(FactBase):
    """Memory and CPUs available where PostgreSQL runs (cgroup v1 and v2), with notes.

    `unit` is the cgroup path of the service below the init system's own cgroup (e.g.
    system.slice/postgresql@17-main.service): its limits count too once it exists.
    """

    def command(self, unit: str = "") -> str:
        files = " ".join(_CGROUP_FILES)
        dirs = " ".join(shlex.quote(d) for d in _CONTROLLER_DIRS)
        return f"""
echo "meminfo_kb $(awk '/^MemTotal:/ {{print $2}}' /proc/meminfo)"
echo "online $(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
cut -d: -f3 /proc/1/cgroup | sed -e 's#/init.scope$##' -e 's#/$##' | sort -u |
while read -r base; do
  p="$base/{unit}"; p="${{p%/}}"
  while :; do
    for d in {dirs}; do for f in {files}; do
      [ -r "$d$p/$f" ] && printf 'file %s %s\\n' "$d$p/$f" "$(cat "$d$p/$f")"
    done; done
    [ -z "$p" ] && break
    p="${{p%/*}}"
  done
done | sort -u
"""

    def process(self, output):
        return parse_resources(list(output))


# --- disks: size and storage class -------------------------------------------------------

VIRTUAL_DISK_PREFIXES = ("vd", "xvd")  # virtio/xen: rotational=1 is their default, not a fact
IGNORED_DEVICES = ("loop", "ram", "zram", "sr", "fd", "nbd")


@dataclass(frozen=True)
class Disk:
    path: str
    size_bytes: int
    mount: str
    device: str | None
    storage: str
    notes: tuple[str, ...] = ()


def _classify(name: str, rotational: dict[str, str], note_prefix: str) -> tuple[str, list[str]]:
    if name.startswith("nvme"):
        return "nvme", [f"{note_prefix}: {name} is NVMe"]
    flag = rotational.get(name)
    if flag == "1" and name.startswith(VIRTUAL_DISK_PREFIXES):
        return "ssd", [
            f"{note_prefix}: virtual disk {name} reports rotational=1, the virtio default; "
            "assumed ssd (set storage_class to override)"
        ]
    if flag == "1":
        return "hdd", [f"{note_prefix}: {name} is rotational"]
    if flag == "0":
        return "ssd", [f"{note_prefix}: {name} is not rotational"]
    return "ssd", [f"{note_prefix}: cannot read {name}'s rotational flag; assumed ssd"]


def parse_disk(lines: list[str]) -> Disk:
    """`df` for the nearest existing path plus /sys/block flags -> size and storage class."""
    fields: dict[str, str] = {}
    rotational: dict[str, str] = {}
    parents: dict[str, str] = {}
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "block":
            name, _, flag = rest.partition(" ")
            rotational[name] = flag.strip()
        elif kind == "parent":
            child, _, parent = rest.partition(" ")
            parents[child] = parent.strip()
        else:
            fields[kind] = rest.strip()
    size, mount = int(fields["size"]), fields["mount"]
    path = fields.get("want") or fields["path"]  # as asked: stable before and after it exists
    device = fields.get("device") or None
    note = f"storage of {path}"
    if device and device not in rotational:
        device = parents.get(device, device)
    if device and device in rotational:
        storage, notes = _classify(device, rotational, note)
    else:
        physical = sorted(n for n in rotational if not n.startswith(IGNORED_DEVICES))
        classes = {name: _classify(name, rotational, note) for name in physical}
        kinds = {storage for storage, _ in classes.values()}
        source = fields.get("source", "?")
        if len(kinds) == 1:
            storage = kinds.pop()
            notes = [
                f"{note}: on {source}, not a block device; every disk here "
                f"({', '.join(physical)}) is {storage}"
            ]
            notes += [n for _, ns in classes.values() for n in ns if "assumed" in n]
        else:
            storage = "ssd"
            notes = [f"{note}: on {source}, disks differ or none found; assumed ssd"]
    return Disk(path, size, mount, device, storage, tuple(notes))


class DiskFacts(FactBase):
    """Size and storage class of the filesystem holding `path` (or its nearest parent)."""

    def command(self, path: str) -> str:
        ignored = "|".join(f"{p}*" for p in IGNORED_DEVICES)
        return f"""
p={shlex.quote(path)}
echo "want $p"
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
p=$(readlink -f "$p")
set -- $(df -P -B1 "$p" | awk 'NR == 2 {{print $1, $2, $6}}')
echo "path $p"; echo "source $1"; echo "size $2"; echo "mount $3"
case "$1" in /dev/*) echo "device $(basename "$(readlink -f "$1")")";; esac
for b in /sys/class/block/*; do
  n=$(basename "$b")
  [ -e "$b/partition" ] && echo "parent $n $(basename "$(dirname "$(readlink -f "$b")")")"
  for s in "$b"/slaves/*; do [ -e "$s" ] && echo "parent $n $(basename "$s")"; done
done
for b in /sys/block/*; do
  n=$(basename "$b")
  case "$n" in {ignored}) ;; *) echo "block $n $(cat "$b/queue/rotational")";; esac
done
"""

    def process(self, output):
        return parse_disk(list(output))


# --- the live PostgreSQL server ----------------------------------------------------------

NOT_RUNNING = "__TSDB_NOT_RUNNING__"


@dataclass(frozen=True)
class LiveSetting:
    setting: str
    unit: str | None
    context: str
    pending_restart: bool


@dataclass(frozen=True)
class LiveServer:
    settings: dict[str, LiveSetting]
    started_at: str
    auto_conf: tuple[str, ...]  # parameters set by ALTER SYSTEM
    file_errors: tuple[str, ...]  # postgresql.conf lines the server rejected

    @property
    def pending_restart(self) -> list[str]:
        return sorted(n for n, s in self.settings.items() if s.pending_restart)


LIVE_SERVER_SQL = """
SELECT 'S', name, setting, coalesce(unit, ''), context, pending_restart FROM pg_settings
UNION ALL SELECT 'T', pg_postmaster_start_time()::text, '', '', '', false
UNION ALL SELECT 'A', name, '', '', '', false FROM pg_file_settings
  WHERE applied AND sourcefile LIKE '%postgresql.auto.conf'
UNION ALL SELECT 'E', name, coalesce(sourcefile, '') || ':' || sourceline || ': ' || error,
  '', '', false FROM pg_file_settings WHERE error IS NOT NULL
"""


def parse_live_server(lines: list[str]) -> LiveServer | None:
    if not lines or any(line.strip() == NOT_RUNNING for line in lines):
        return None
    settings, started, auto, errors = {}, "", [], []
    for line in lines:
        parts = line.split("\x1f")
        kind = parts[0]
        if kind == "S" and len(parts) == 6:
            _, name, setting, unit, context, pending = parts
            settings[name] = LiveSetting(setting, unit or None, context, pending == "t")
        elif kind == "T":
            started = parts[1]
        elif kind == "A":
            auto.append(parts[1])
        elif kind == "E":
            errors.append(f"{parts[1]}: {parts[2]}")
    return LiveServer(settings, started, tuple(sorted(auto)), tuple(errors))


class PostgresServer(FactBase):
    """pg_settings, postmaster start time and config-file state; None when not running.

    `psql` is the runtime's command that runs psql as the superuser (e.g. runuser ... psql).
    """

    def command(self, psql: str) -> str:
        sql = shlex.quote(LIVE_SERVER_SQL)
        return (
            f"{psql} -X -A -t -q -v ON_ERROR_STOP=1 -F $'\\x1f' -d postgres -c {sql} 2>/dev/null"
            f" || echo {NOT_RUNNING}"
        )

    shell_executable = "bash"  # $'..' quoting

    def process(self, output):
        return parse_live_server(list(output))


@dataclass(frozen=True)
class DatabaseState:
    databases: tuple[str, ...]
    roles: dict[str, str | None]  # role -> stored password verifier (SCRAM), None if no login
    extensions: dict[str, str]  # in the application database: name -> version
    timescaledb_license: str | None


def parse_database_state(lines: list[str]) -> DatabaseState | None:
    if not lines or any(line.strip() == NOT_RUNNING for line in lines):
        return None
    databases, roles, extensions, license_ = [], {}, {}, None
    for line in lines:
        parts = line.split("\x1f")
        if parts[0] == "D":
            databases.append(parts[1])
        elif parts[0] == "R":
            roles[parts[1]] = parts[2] or None
        elif parts[0] == "X":
            extensions[parts[1]] = parts[2]
        elif parts[0] == "L":
            license_ = parts[1] or None
    return DatabaseState(tuple(databases), roles, extensions, license_)


class PostgresDatabase(FactBase):
    """Databases, login roles with their password verifiers, and extensions in `database`."""

    shell_executable = "bash"

    def command(self, psql: str, database: str) -> str:
        opts = "-X -A -t -q -v ON_ERROR_STOP=1 -F $'\\x1f'"
        cluster_sql = shlex.quote(
            "SELECT 'D', datname, '' FROM pg_database WHERE NOT datistemplate "
            "UNION ALL SELECT 'R', rolname, coalesce(rolpassword, '') FROM pg_authid "
            "WHERE rolcanlogin"
        )
        # the license setting exists only in a database where timescaledb is loaded
        db_sql = shlex.quote(
            "SELECT 'X', extname, extversion FROM pg_extension "
            "UNION ALL SELECT 'L', current_setting('timescaledb.license', true), ''"
        )
        db = shlex.quote(database)
        return (
            f"{{ {psql} {opts} -d postgres -c {cluster_sql} &&"
            f" {{ {psql} {opts} -d {db} -c {db_sql} 2>/dev/null || true; }}; }} 2>/dev/null"
            f" || echo {NOT_RUNNING}"
        )

    def process(self, output):
        return parse_database_state(list(output))


# --- docker --------------------------------------------------------------------------------

MISSING = "__TSDB_MISSING__"


class DockerImageId(FactBase):
    """The local image ID of `ref` (sha256:...), or None when absent or Docker is missing."""

    def command(self, ref: str) -> str:
        return (
            f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)} 2>/dev/null"
            f" || echo {MISSING}"
        )

    def process(self, output):
        value = "\n".join(output).strip()
        return None if not value or value == MISSING else value


@dataclass(frozen=True)
class ContainerState:
    running: bool
    health: str  # healthy | starting | unhealthy | none
    image_id: str
    config_hash: str  # the label compose put on the container
    wanted_hash: str  # what compose computes from the compose file now
    started_at: str


def parse_container(lines: list[str]) -> ContainerState | None:
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    if "running" not in fields:
        return None
    return ContainerState(
        running=fields["running"] == "true",
        health=fields.get("health", "none") or "none",
        image_id=fields.get("image", ""),
        config_hash=fields.get("hash", ""),
        wanted_hash=fields.get("wanted", "").split(" ")[-1],
        started_at=fields.get("started", ""),
    )


class DockerContainer(FactBase):
    """State of a compose service's container, with the config hash compose would give it now.

    None when the container does not exist (or Docker is not installed yet).
    """

    def command(self, container: str, compose: str, service: str) -> str:
        fmt = (
            "running {{.State.Running}}\nhealth {{if .State.Health}}{{.State.Health.Status}}"
            "{{end}}\nimage {{.Image}}\nstarted {{.State.StartedAt}}\nhash "
            '{{index .Config.Labels "com.docker.compose.config-hash"}}'
        )
        return (
            f"docker inspect --format {shlex.quote(fmt)} {shlex.quote(container)} 2>/dev/null &&"
            f' echo "wanted $(docker compose -f {shlex.quote(compose)} config --hash'
            f' {shlex.quote(service)} 2>/dev/null)" || true'
        )

    def process(self, output):
        return parse_container(list(output))


# --- the schema ----------------------------------------------------------------------------


def parse_ledger(lines: list[str]):
    from .migrations import Applied

    if any(line.strip() == NOT_RUNNING for line in lines):
        return None
    rows = []
    for line in lines:
        parts = line.split("\x1f")
        if len(parts) == 3:
            rows.append(Applied(int(parts[0]), parts[1], parts[2]))
    return rows


class MigrationLedger(FactBase):
    """Migrations applied to `database` (empty before the first), None if unreachable."""

    shell_executable = "bash"

    @staticmethod
    def default():  # pyinfra's value for no output: an empty ledger
        return []

    def command(self, psql: str, database: str) -> str:
        sql = shlex.quote(
            "SELECT version, name, sha256 FROM tsdb_deploy.schema_migrations ORDER BY version"
        )
        exists = shlex.quote("SELECT to_regclass('tsdb_deploy.schema_migrations') IS NOT NULL")
        opts = "-X -A -t -q -v ON_ERROR_STOP=1 -F $'\\x1f'"
        db = shlex.quote(database)
        return (
            f"e=$({psql} {opts} -d {db} -c {exists} 2>/dev/null) || {{ echo {NOT_RUNNING}; "
            f'exit 0; }}; [ "$e" = t ] && {psql} {opts} -d {db} -c {sql} || true'
        )

    def process(self, output):
        return parse_ledger(list(output))


def parse_dimensions(lines: list[str]) -> dict[str, dict]:
    """hypertable -> {"interval": seconds or None, "partitions": n or 0}."""
    out: dict[str, dict] = {}
    for line in lines:
        parts = line.split("\x1f")
        if len(parts) != 4:
            continue
        table, kind, seconds, partitions = parts
        entry = out.setdefault(table, {"interval": None, "partitions": 0})
        if kind == "Time":
            entry["interval"] = int(float(seconds))
        else:
            entry["partitions"] = int(partitions)
    return out


class HypertableDimensions(FactBase):
    """The time and space dimensions of every hypertable in `database`."""

    shell_executable = "bash"

    def command(self, psql: str, database: str) -> str:
        sql = shlex.quote(
            "SELECT hypertable_name, dimension_type, "
            "coalesce(extract(epoch FROM time_interval), 0), coalesce(num_partitions, 0) "
            "FROM timescaledb_information.dimensions"
        )
        opts = "-X -A -t -q -v ON_ERROR_STOP=1 -F $'\\x1f'"
        return f"{psql} {opts} -d {shlex.quote(database)} -c {sql} 2>/dev/null || true"

    def process(self, output):
        return parse_dimensions(list(output))


# --- pgBackRest --------------------------------------------------------------------------


@dataclass(frozen=True)
class BackrestStanza:
    status_code: int  # 0 ok, 1 missing stanza path, 2 no valid backups, ... (pgBackRest info)
    message: str
    backups: int


def parse_backrest_info(text: str) -> BackrestStanza | None:
    import json

    try:
        (stanza,) = json.loads(text)
    except (ValueError, TypeError):
        return None
    status = stanza.get("status", {})
    return BackrestStanza(status.get("code", -1), status.get("message", ""),
                          len(stanza.get("backup", [])))  # fmt: skip


class PgbackrestInfo(FactBase):
    """`pgbackrest info` for one stanza, run where PostgreSQL runs; None if not available."""

    def command(self, run_as_postgres: str, stanza: str) -> str:
        return (
            f"{run_as_postgres} pgbackrest --stanza={shlex.quote(stanza)} --output=json info "
            "2>/dev/null || true"
        )

    def process(self, output):
        return parse_backrest_info("\n".join(output))
