"""The machine: memory and CPUs PostgreSQL may use (cgroup-aware), disks."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..units import format_size

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
    available_bytes: int | None = None  # free for unprivileged writers (df's Available)


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
    available = int(fields["available"]) if "available" in fields else None
    return Disk(path, size, mount, device, storage, tuple(notes), available)


class DiskFacts(FactBase):
    """Size and storage class of the filesystem holding `path` (or its nearest parent)."""

    def command(self, path: str) -> str:
        ignored = "|".join(f"{p}*" for p in IGNORED_DEVICES)
        return f"""
p={shlex.quote(path)}
echo "want $p"
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
p=$(readlink -f "$p")
set -- $(df -P -B1 "$p" | awk 'NR == 2 {{print $1, $2, $4, $6}}')
echo "path $p"; echo "source $1"; echo "size $2"; echo "available $3"; echo "mount $4"
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


@dataclass(frozen=True)
class FileState:
    """A path's owner, group, permission bits and (for a regular file) content hash."""

    user: str
    group: str
    mode: int  # permission bits, e.g. 0o600
    sha256: str | None  # None for a directory, or a file that cannot be read


def parse_states(lines: list[str]) -> dict[str, FileState | None]:
    states: dict[str, FileState | None] = {}
    for line in lines:
        path, _, rest = line.partition("\x1f")
        stat, _, digest = rest.partition("\x1f")
        if not stat.strip():
            states[path] = None
            continue
        mode, user, group = stat.split()
        states[path] = FileState(user, group, int(mode, 8), digest.strip() or None)
    return states


class FileStates(FactBase):
    """Owner, group, mode and sha256 of each of `paths`, in one command; None for a missing path."""

    shell_executable = "bash"

    def command(self, paths: list[str]) -> str:
        quoted = " ".join(map(shlex.quote, paths))
        return (
            f'for p in {quoted}; do if [ -e "$p" ]; then s=$(stat -c "%a %U %G" "$p"); '
            'd=$( [ -f "$p" ] && sha256sum < "$p" 2>/dev/null); '
            'printf \'%s\\x1f%s\\x1f%s\\n\' "$p" "$s" "${d%% *}"; '
            "else printf '%s\\x1f\\x1f\\n' \"$p\"; fi; done"
        )

    def process(self, output):
        return parse_states(list(output))


@dataclass(frozen=True)
class ServiceState:
    active: bool
    enabled: bool


def parse_services(lines: list[str]) -> dict[str, ServiceState]:
    """`systemctl show -p Id,ActiveState,UnitFileState` blocks -> unit -> state."""
    units: dict[str, ServiceState] = {}
    block: dict[str, str] = {}
    for line in [*lines, ""]:
        key, sep, value = line.strip().partition("=")
        if sep:
            block[key] = value
            continue
        if "Id" in block:
            units[block["Id"].removesuffix(".service")] = ServiceState(
                active=block.get("ActiveState") == "active",
                enabled=block.get("UnitFileState") in ("enabled", "static", "alias"),
            )
        block = {}
    return units


class ServiceStates(FactBase):
    """Whether each systemd unit of `units` runs and starts at boot, in one command."""

    default = dict

    def command(self, units: list[str]) -> str:
        names = " ".join(shlex.quote(f"{u}.service") for u in units)
        return f"systemctl show --property=Id,ActiveState,UnitFileState {names}"

    def process(self, output):
        return parse_services(list(output))
