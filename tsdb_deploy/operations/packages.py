"""apt packages: installed when missing, or from upstream repositories at a pinned release."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.deb import DebPackages

from ..apt import AptError, AptSource, check_no_downgrade, choose_versions, pending
from ..facts import AptRepositoryProbe, batch
from ._common import sha256
from .files import file_states, install_file

# How long apt waits for another apt or dpkg (unattended-upgrades holds their locks for
# minutes on a stock Debian or Ubuntu host) before it fails naming the process that holds them.
APT_LOCK_WAIT_S = 300
# `apt-get update` takes the package lists' lock without waiting (DPkg::Lock::Timeout covers
# dpkg's locks only), so it is tried again while another process holds that lock.
APT_UPDATE = (
    f"for _ in $(seq {APT_LOCK_WAIT_S // 5}); do "
    "out=$(LC_ALL=C apt-get update -q 2>&1) && { printf '%s\\n' \"$out\"; exit 0; }; "
    "case $out in *'Could not get lock'*) sleep 5 ;; *) break ;; esac; done; "
    "printf '%s\\n' \"$out\" >&2; exit 1"
)
APT_INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
    f"-o DPkg::Lock::Timeout={APT_LOCK_WAIT_S} "
    "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
)


@operation(is_idempotent=True)
def packages_installed(packages: list[str]):
    """apt packages present; the package lists are refreshed only when one must be installed,
    so a converged host stays unchanged however long ago apt last updated."""
    installed = batch.read(host, DebPackages) or {}
    missing = [name for name in packages if name not in installed]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield APT_UPDATE
    yield f"{APT_INSTALL} {' '.join(missing)}"


@operation(is_idempotent=True)
def upstream_packages(
    sources: list[AptSource],
    files: dict[str, str],
    packages: list[str],
    pinned: dict[str, str],
    setting: str,
    known: list[str] = (),
):
    """`packages` installed from `sources` (keys, sources entries and the pin in `files`), the
    `pinned` ones at their release; a pinned release raised upgrades them.

    apt itself checks the repositories first, in a scratch directory (AptRepositoryProbe): an
    unreachable repository, one signed with another key, a release it does not carry or a
    downgrade stops the step with one line (the deploy's preflight has already refused them
    before any step ran). A converged host (files as declared, packages at their release)
    reads no repository.
    """
    installed, hashes, todo = upstream_pending(host, sources, files, packages, pinned, known)
    try:
        check_no_downgrade(installed, pinned, setting)
        if not todo:
            held = ", ".join(f"{name} {min(installed[name])}" for name in pinned)
            host.noop(f"repositories as declared; installed: {', '.join(packages)}; held: {held}")
            return
        probe = batch.read(host, AptRepositoryProbe, sources=sources, packages=[*packages, *pinned])
        exact = choose_versions(probe.errors, probe.available, pinned, setting)
    except AptError as exc:
        raise OperationError(str(exc)) from None

    for source in sources:
        key = probe.keys[source.name]
        if hashes[source.keyring] != sha256(key):
            host.log(f"Installing the signing key of {source.name} from {source.key_url}")
            yield f"mkdir -p -m 755 {source.keyring.rsplit('/', 1)[0]}"
            yield from install_file(source.keyring, key, "root:root", "644")
    for path in todo.files:
        yield from install_file(path, files[path], "root:root", "644")
    for name in todo.off_release:
        host.log(f"Upgrading {name}: {min(installed[name])} -> {exact[name]}", logger.warning)
    yield APT_UPDATE
    # Only what is missing, and the pinned packages at their release: an installed package
    # (PostgreSQL itself) is not upgraded on the side, which would restart the server.
    wanted = [name for name in todo.packages if name not in pinned]
    wanted += [f"{name}={version}" for name, version in exact.items()]
    yield f"{APT_INSTALL} {' '.join(wanted)}"


def upstream_pending(host, sources, files, packages, pinned, known=()):
    """(installed packages, sha256 of the files and keyrings, what the install still has to
    do), read from the host's facts (`known`: every path the deploy reads, facts.batch)."""
    installed = batch.read(host, DebPackages) or {}
    ours = [*files, *(s.keyring for s in sources)]
    states = file_states(host, ours, known)
    current = {path: states[path].sha256 if states[path] else None for path in ours}
    wanted = {path: sha256(text) for path, text in files.items()}
    return installed, current, pending(installed, current, wanted, sources, packages, pinned)
