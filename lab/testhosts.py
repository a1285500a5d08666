"""Local test hosts: Debian containers running systemd as PID 1.

pyinfra deploys to them as ``@docker/<name>``, testinfra checks them as ``docker://<name>``.
No registry is reachable, so the base image is built once per machine with debootstrap and
cached under a tag hashing the recipe. Every container and volume the harness creates carries
the ``tsdb-deploy.testhost=1`` label, and it never removes anything without that label.

CLI: ``python -m lab.testhosts up NAME[:MEM[:CPUS]] ... | down PREFIX | image``
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from urllib.parse import urlsplit

BASE_SUITE = "trixie"
LABEL = "tsdb-deploy.testhost"

# Bump when the image recipe changes in a way the suite and package list do not show.
RECIPE_VERSION = 2
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "procps", "iproute2", "cron", "ca-certificates", "gnupg",
    "curl", "less", "iputils-ping", "apt-utils", "locales", "lsb-release", "python3", "sudo",
)  # fmt: skip
IMAGE_REPO = "tsdb-testhost"
BASE_IMAGE_CHANGES = ('CMD ["/lib/systemd/systemd"]',)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CACHE = "/var/cache/tsdb-testhosts/apt"
DOCKERD_LOG = "/var/log/tsdb-testhosts-dockerd.log"
BUILD_DIR = "/var/tmp"
DOCKER_START_TIMEOUT = 60
BOOT_TIMEOUT = 90

APT_CONF = 'APT::Keep-Downloaded-Packages "true";\nAcquire::Retries "3";\n'
# The apt cache is shared, but apt refuses to run while another host holds the cache's lock and
# parallel downloads would clobber each other's partial files. So each host bind-mounts its own
# lock file, and the shared partial/ is a symlink to this per-boot link to .partial/<hostname>:
# still inside the cache mount, so apt's final rename into the cache works.
RUN_PARTIAL = "/run/tsdb-apt-partial"
TMPFILES_CONF = (
    "d /var/cache/apt/archives/.partial/%H 0700 _apt root -\n"
    f"L+ {RUN_PARTIAL} - - - - /var/cache/apt/archives/.partial/%H\n"
)

# Used as container name and hostname, so it must be a valid hostname label.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?[kmgt]?i?b?$", re.IGNORECASE)
_ONE_LINE_RE = re.compile(r"^deb\s+(?:\[[^\]]*\]\s*)?(\S+)\s+(\S+)(.*)$")
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

_dockerd: subprocess.Popen | None = None  # the dockerd we started; it outlives this process


class TestHostError(RuntimeError):
    """A test-host operation failed; the message says what and why."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestHost:
    __test__ = False  # not a pytest test class

    name: str
    memory: str | None = None
    cpus: float | None = None
    docker_volume: bool = False

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise TestHostError(f"bad test host name {self.name!r}: use letters, digits, '.', '-'")
        if self.memory is not None and not _MEMORY_RE.match(self.memory):
            raise TestHostError(f"bad memory limit {self.memory!r} for {self.name}: e.g. 2g, 512m")
        if self.cpus is not None and self.cpus <= 0:
            raise TestHostError(f"bad cpu limit {self.cpus!r} for {self.name}: must be > 0")

    @property
    def pyinfra_name(self) -> str:
        return f"@docker/{self.name}"

    @property
    def testinfra_url(self) -> str:
        return f"docker://{self.name}"


def parse_host_spec(spec: str, *, docker_volume: bool = False) -> TestHost:
    """``NAME[:MEM[:CPUS]]`` -> TestHost; an empty MEM (``name::2``) means no memory limit."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise TestHostError(f"bad host spec {spec!r}: expected NAME[:MEM[:CPUS]]")
    name, memory, cpus = (parts + ["", ""])[:3]
    try:
        cpu_limit = float(cpus) if cpus else None
    except ValueError:
        raise TestHostError(f"bad host spec {spec!r}: CPUS must be a number") from None
    return TestHost(name, memory or None, cpu_limit, docker_volume)


def image_tag(
    suite: str = BASE_SUITE,
    packages: Iterable[str] = BASE_PACKAGES,
    recipe: int = RECIPE_VERSION,
    repo: str = IMAGE_REPO,
) -> str:
    """Tag that changes whenever the recipe does, so a stale cached image is never reused."""
    digest = hashlib.sha256(json.dumps([suite, sorted(packages), recipe]).encode()).hexdigest()
    return f"{repo}:{suite}-{digest[:8]}"


def read_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[tuple[str, str]]:
    """``(filename, text)`` of the machine's apt source files, in the order apt reads them."""
    files = [etc_apt / "sources.list"] + sorted(
        p for p in (etc_apt / "sources.list.d").glob("*") if p.suffix in (".list", ".sources")
    )
    return [(p.name, p.read_text(errors="replace")) for p in files if p.is_file()]


def find_debian_mirror(sources: Iterable[tuple[str, str]]) -> str:
    """First http(s) URI serving Debian main (not -security) in ``(filename, text)`` sources."""
    for filename, text in sources:
        entries = _deb822_entries if filename.endswith(".sources") else _one_line_entries
        for uri, suites, components in entries(text):
            scheme, _, path, _, _ = urlsplit(uri)
            if (
                scheme in ("http", "https")
                and path.rstrip("/").endswith("/debian")
                and "main" in components
                and any(not suite.endswith("-security") for suite in suites)
            ):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def _one_line_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for line in text.splitlines():
        if match := _ONE_LINE_RE.match(line.split("#", 1)[0].strip()):
            yield match[1], [match[2]], match[3].split()


def _deb822_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    for paragraph in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in paragraph.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t":  # continuation of a multi-line field
                fields[key] = f"{fields.get(key, '')} {line.strip()}"
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        enabled = fields.get("enabled", "yes").lower() not in ("no", "false")
        if enabled and "deb" in fields.get("types", "").split():
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def volume_name(host_name: str) -> str:
    return f"{host_name}-docker"


def docker_run_args(host: TestHost, image: str, cache: Path) -> list[str]:
    """The ``docker run`` command for a host: systemd as PID 1 without --privileged."""
    # SYS_PTRACE only for hosts that run Docker: its runc joins the namespaces of a container
    # whose PID 1 is not root (postgres) through /proc/PID/ns, which needs it; a real server
    # has every capability.
    ptrace = ["--cap-add", "SYS_PTRACE"] if host.docker_volume else []
    args = [
        "docker", "run", "--detach", "--pull=never", "--name", host.name, "--hostname", host.name,
        "--label", f"{LABEL}=1",
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", *ptrace,
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "-v", f"{cache}:/var/cache/apt/archives",
        "-v", f"{cache}/.locks/{host.name}:/var/cache/apt/archives/lock",
    ]  # fmt: skip
    if host.memory:
        args += ["--memory", host.memory]
    if host.cpus is not None:
        args += ["--cpus", f"{host.cpus:g}"]
    if host.docker_volume:  # dockerd inside cannot keep its overlay storage on overlayfs
        args += ["--mount", f"type=volume,src={volume_name(host.name)},dst=/var/lib/docker"]
    return args + [image, "/lib/systemd/systemd"]


def say(message: str) -> None:
    print(f"testhosts: {message}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(args: list[str], *, check: bool = True, timeout: float = 300) -> CompletedProcess:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise TestHostError(f"{args[0]} not found; is it installed and on PATH?") from None
    except subprocess.TimeoutExpired:
        raise TestHostError(f"timed out after {timeout:g}s: {shlex.join(args)}") from None
    if check and result.returncode != 0:
        raise TestHostError(
            f"command failed (exit {result.returncode}): {shlex.join(args)}\n"
            + _tail(result.stderr or result.stdout)
        )
    return result


def _find_program(name: str, install_hint: str) -> str:
    if path := shutil.which(name, path=_SBIN_PATH):
        return path
    raise TestHostError(f"{name} not found: {install_hint}")


@contextlib.contextmanager
def machine_lock(what: str) -> Iterator[None]:
    """Serialize with other harness processes on this machine (parallel pytest, make)."""
    with open(Path(BUILD_DIR) / f"tsdb-testhost-{what}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _docker_info() -> CompletedProcess:
    return run(["docker", "info"], check=False, timeout=30)


def ensure_docker() -> None:
    """Make sure a docker daemon answers, starting dockerd if none runs (CI, fresh sessions)."""
    global _dockerd
    if _docker_info().returncode == 0:
        return
    with machine_lock("dockerd"):
        info = _docker_info()  # another process may have started it while we waited
        if info.returncode == 0:
            return
        if os.geteuid() != 0 or os.environ.get("DOCKER_HOST"):  # not ours to start
            raise TestHostError(f"docker daemon not reachable:\n{_tail(info.stderr)}")
        dockerd = _find_program("dockerd", "apt-get install docker.io")
        say(f"docker daemon not running; starting {dockerd} (log: {DOCKERD_LOG})")
        with open(DOCKERD_LOG, "ab") as log:  # own session: survives us and Ctrl-C
            _dockerd = subprocess.Popen(
                [dockerd], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + DOCKER_START_TIMEOUT
        while time.monotonic() < deadline and _dockerd.poll() is None:
            time.sleep(1)
            if _docker_info().returncode == 0:
                return
    code = _dockerd.poll()
    why = f"exited with code {code}" if code is not None else f"not up in {DOCKER_START_TIMEOUT}s"
    tail = _tail(Path(DOCKERD_LOG).read_text(errors="replace"))
    raise TestHostError(f"dockerd {why}; {DOCKERD_LOG} ends:\n{tail}")


def ensure_base_image() -> str:
    """Return the base image tag, building the image with debootstrap if it is missing."""
    return ensure_image(image_tag(), BASE_PACKAGES, _customize_rootfs, BASE_IMAGE_CHANGES)


def ensure_image(tag: str, packages, customize, changes) -> str:
    ensure_docker()
    if image_exists(tag):
        return tag
    with machine_lock("build"):
        if not image_exists(tag):  # another process may have built it while we waited
            _build_image(tag, packages, customize, changes)
    return tag


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False).returncode == 0


def _build_image(tag: str, packages, customize, changes) -> None:
    if os.geteuid() != 0:
        raise TestHostError(f"building image {tag} needs root (debootstrap)")
    debootstrap = _find_program("debootstrap", "apt-get install debootstrap")
    mirror = find_debian_mirror(read_apt_sources())
    say(f"building image {tag} with debootstrap from {mirror} (about a minute)...")
    workdir = Path(tempfile.mkdtemp(prefix="tsdb-testhost-", dir=BUILD_DIR))
    rootfs = workdir / "rootfs"
    try:
        include = "--include=" + ",".join(packages)
        boot = [debootstrap, "--variant=minbase", include, BASE_SUITE, str(rootfs), mirror]
        result = run(boot, check=False, timeout=1800)
        if result.returncode != 0:  # its log says why; the log dies with the build dir
            log = rootfs / "debootstrap/debootstrap.log"
            detail = log.read_text(errors="replace") if log.is_file() else result.stderr
            raise TestHostError(f"{shlex.join(boot)} failed; log ends:\n{_tail(detail)}")
        customize(rootfs, mirror)
        tarball = str(workdir / "rootfs.tar")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", tarball, "."], timeout=900)
        flags = [arg for change in changes for arg in ("-c", change)]
        run(["docker", "import", *flags, tarball, tag], timeout=900)
    finally:
        _remove_build_dir(workdir)
    say(f"built image {tag}")


def _customize_rootfs(rootfs: Path, mirror: str) -> None:
    (rootfs / "etc/hostname").unlink(missing_ok=True)  # docker sets the hostname
    (rootfs / "etc/apt/sources.list").write_text(f"deb {mirror} {BASE_SUITE} main\n")
    (rootfs / "etc/apt/apt.conf.d/90tsdb-testhost").write_text(APT_CONF)
    (rootfs / "etc/tmpfiles.d").mkdir(exist_ok=True)
    (rootfs / "etc/tmpfiles.d/tsdb-testhost.conf").write_text(TMPFILES_CONF)
    # Each host generates its own machine-id at first boot instead of sharing the build's;
    # the first-boot wizard would wait for a console the container does not have.
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (rootfs / "etc/systemd/system/systemd-firstboot.service").symlink_to("/dev/null")


def customize_tool_rootfs(rootfs: Path, mirror: str) -> None:
    """A lab tool image (builder, mirror server): apt sources kept, no host name."""
    (rootfs / "etc/hostname").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list").write_text(f"deb {mirror} {BASE_SUITE} main\n")


# The official timescale/timescaledb images run PostgreSQL as uid and gid 70 (Alpine's). The
# docker runtime gives the host a `postgres` user with the image's ids; Debian's dynamic ones
# (100/102 here) belong to other groups on a host, docker's among them.
POSTGRES_IDS = 70


def customize_postgres_rootfs(rootfs: Path, mirror: str) -> None:
    """A PostgreSQL image: postgres as uid/gid 70, no cluster (the deploy runs initdb), no
    downloaded packages."""
    (rootfs / "etc/hostname").unlink(missing_ok=True)
    old = subprocess.run(["chroot", str(rootfs), "id", "-u", "postgres"], capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    old_gid = subprocess.run(["chroot", str(rootfs), "id", "-g", "postgres"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    ids = str(POSTGRES_IDS)
    for command in (["groupmod", "-g", ids, "postgres"], ["usermod", "-u", ids, "postgres"],
                    ["find", "/", "-xdev", "(", "-uid", old, "-o", "-gid", old_gid, ")",
                     "-exec", "chown", "-h", f"{ids}:{ids}", "{}", "+"]):  # fmt: skip
        subprocess.run(["chroot", str(rootfs), *command], capture_output=True, check=True)
    # The package made a cluster and fetched .debs; the image carries neither.
    for leftover in ("etc/postgresql", "var/lib/postgresql", "var/cache/apt/archives",
                     "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):  # fmt: skip
        for child in (rootfs / leftover).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def _remove_build_dir(path: Path) -> None:
    # A failed debootstrap can leave /proc, /sys or /dev mounted in the rootfs; deleting through
    # them would reach the host, so unmount them (deepest first) and stay on one file system.
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True, check=False)


def cache_dir() -> Path:
    """Host directory shared by all test hosts as their apt download cache."""
    return Path(os.environ.get("TSDB_TESTHOSTS_CACHE") or DEFAULT_CACHE).absolute()


def _prepare_cache(cache: Path, name: str) -> None:
    (cache / ".locks").mkdir(parents=True, exist_ok=True)
    (cache / ".locks" / name).touch()  # must exist, or docker would mount a directory there
    partial = cache / "partial"
    if not partial.is_symlink():  # see RUN_PARTIAL
        shutil.rmtree(partial, ignore_errors=True)
        with contextlib.suppress(FileExistsError):  # another host got there first
            partial.symlink_to(RUN_PARTIAL)


def start(host: TestHost, *, image: str | None = None) -> None:
    """Replace a stale container of ours, run the host, wait for systemd (image: pre-ensured)."""
    image = image or ensure_base_image()
    remove(host.name)
    cache = cache_dir()
    _prepare_cache(cache, host.name)
    cpus = f"{host.cpus:g}" if host.cpus else "all"
    say(f"starting {host.name} (memory: {host.memory or 'any'}, cpus: {cpus})...")
    if host.docker_volume:
        run(["docker", "volume", "create", "--label", f"{LABEL}=1", volume_name(host.name)])
    run(docker_run_args(host, image, cache))
    say(f"{host.name} is up (systemd: {_wait_for_boot(host.name)})")
    from . import tls  # every test host gets its TLS certificate from the lab's CA

    tls.issue(host.name, [address(host.name)])


def start_many(hosts: list[TestHost]) -> None:
    """Start hosts in parallel; one error lists every host that failed."""
    names = [host.name for host in hosts]
    if len(set(names)) != len(names):
        raise TestHostError(f"duplicate test host names: {' '.join(names)}")
    if not hosts:
        return
    image = ensure_base_image()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        futures = [(host.name, pool.submit(start, host, image=image)) for host in hosts]
    failures = [f"{name}: {future.exception()}" for name, future in futures if future.exception()]
    if failures:
        raise TestHostError("could not start test hosts:\n" + "\n".join(failures))


def reboot(name: str) -> str:
    """Restart the test host as a reboot would (its /run starts empty); systemd's
    state once it has booted again."""
    run(["docker", "restart", "--time", "30", name])
    return _wait_for_boot(name)


def _wait_for_boot(name: str) -> str:
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = "unknown"
    while time.monotonic() < deadline:
        result = run(["docker", "exec", name, "systemctl", "is-system-running"], check=False)
        state = result.stdout.strip() or _tail(result.stderr, 1) or state
        if state in ("running", "degraded"):
            return state
        if not is_running(name):
            state = "container stopped"
            break
        time.sleep(1)
    else:
        state = f"not booted within {BOOT_TIMEOUT}s, systemd state: {state}"
    logs = run(["docker", "logs", "--tail", "20", name], check=False)
    detail = f"docker logs:\n{_tail(logs.stdout + logs.stderr, 20) or '(empty)'}"
    if is_running(name):  # systemd logs to its journal, which docker logs does not show
        journal = ["docker", "exec", name, "journalctl", "-b", "-n", "20", "--no-pager"]
        detail += f"\njournal:\n{_tail(run(journal, check=False).stdout, 20)}"
    raise TestHostError(f"test host {name} failed to boot ({state}); {detail}")


def is_running(name: str) -> bool:
    result = run(["docker", "container", "inspect", "--format", "{{.State.Running}}", name],
                  check=False)  # fmt: skip
    return result.returncode == 0 and result.stdout.strip() == "true"


def _inspect(name: str, template: str) -> str:
    return run(["docker", "container", "inspect", "--format", template, name]).stdout.strip()


def address(name: str) -> str:
    """The container's address on Docker's network, where the test hosts reach it."""
    found = _inspect(name, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()
    if not found:
        raise TestHostError(f"container {name} has no network address")
    return found[0]


def machine_address() -> str:
    """This machine's address as the test hosts see it: Docker's bridge gateway (a daemon that
    was not told one reports only the subnet: the gateway is then its first address)."""
    config = json.loads(run(
        ["docker", "network", "inspect", "bridge", "-f", "{{json (index .IPAM.Config 0)}}"]
    ).stdout)  # fmt: skip
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def app_client_data(runtime: str, host_name: str) -> dict:
    """Host data under which this machine may connect to test host `host_name` as the
    application, and only it (the docker runtime publishes on loopback and the test host's own
    address, not on all)."""
    data = {
        "listen_addresses": "*",
        "app_networks": ["127.0.0.1/32", "::1/128", f"{machine_address()}/32"],
    }
    if runtime == "docker":
        data["publish_addresses"] = ["127.0.0.1", address(host_name)]
    return data


def label(name: str, key: str) -> str | None:
    """The value of label `key` on container `name`, None if it has none."""
    return (json.loads(_inspect(name, "{{json .Config.Labels}}")) or {}).get(key)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_ours(kind: str, name: str) -> None:
    """Remove a container or volume if it exists, refusing if it lacks our label."""
    labels = "{{json .Config.Labels}}" if kind == "container" else "{{json .Labels}}"
    result = run(["docker", kind, "inspect", "--format", labels, name], check=False)
    if result.returncode != 0:
        if "no such" in result.stderr.lower():
            return
        raise TestHostError(f"docker {kind} inspect {name} failed:\n{_tail(result.stderr)}")
    if (json.loads(result.stdout) or {}).get(LABEL) != "1":
        raise TestHostError(
            f"{kind} {name!r} exists but was not created by the test-host harness "
            f"(no {LABEL}=1 label); refusing to remove it: rename or remove it yourself"
        )
    run(["docker", "rm", "-f", name] if kind == "container" else ["docker", "volume", "rm", name])


def remove(name: str) -> None:
    """Remove our container ``name``, its docker volume and apt cache lock; absent is fine."""
    _remove_ours("container", name)
    _remove_ours("volume", volume_name(name))
    cache = cache_dir()
    (cache / ".locks" / name).unlink(missing_ok=True)
    shutil.rmtree(cache / ".partial" / name, ignore_errors=True)


def remove_all(prefix: str) -> list[str]:
    """Remove every test host (and orphaned volume) whose name starts with ``prefix``."""
    ensure_docker()  # containers outlive the daemon; removing them needs it running
    ours = f"label={LABEL}=1"
    listed = run(["docker", "ps", "-a", "--filter", ours, "--format", "{{.Names}}"]).stdout
    names = sorted(name for name in listed.split() if name.startswith(prefix))
    for name in names:
        remove(name)
    volumes = run(["docker", "volume", "ls", "--filter", ours, "--format", "{{.Name}}"]).stdout
    for volume in volumes.split():
        if volume.startswith(prefix):
            _remove_ours("volume", volume)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.testhosts",
        description="Local Debian test hosts (systemd in Docker) for pyinfra and testinfra.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start hosts, replacing stale ones of the same name")
    up.add_argument("hosts", nargs="+", metavar="NAME[:MEM[:CPUS]]")
    up.add_argument("--docker-volume", action="store_true", help="volume at /var/lib/docker")
    down = commands.add_parser("down", help="remove all test hosts whose name starts with PREFIX")
    down.add_argument("prefix", metavar="PREFIX")
    commands.add_parser("image", help="build the base image if missing; print its tag")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            hosts = [parse_host_spec(s, docker_volume=args.docker_volume) for s in args.hosts]
            start_many(hosts)
            print("\n".join(host.pyinfra_name for host in hosts))
        elif args.command == "down":
            for name in remove_all(args.prefix):
                print(name)
        else:
            print(ensure_base_image())
    except TestHostError as exc:
        print(f"testhosts: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
