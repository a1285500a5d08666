"""The lab package mirror: signed apt repositories laid out like Timescale's and PGDG's, served
over HTTP to the test hosts from a container on this machine.

The deploy is pointed at it exactly as an air-gapped site points it at its own mirror:
`timescale_apt_url`, `timescale_key_url`, `pgdg_apt_url`, `pgdg_key_url`, with the version
pinned by `timescaledb_version`. Nothing in the deploy knows it is a lab.

PGDG: the mirror serves Debian 13's own PostgreSQL 17, postgresql-common, libpq and pgBackRest
unchanged under the PGDG layout (`dists/trixie-pgdg/main`), signed with the lab key. The
deploy's PGDG step (key, sources entry, signature check by apt, packages from that origin) runs
for real; the packages are Debian's builds rather than PGDG's, which the lab cannot reach.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import cache, packages, testhosts, vendor
from .packages import CODENAME, DISTRO

BUILD = packages.RECIPES / "publish-mirror.sh"
HTTP_PORT = 8080
READY_TIMEOUT = 30


@dataclass(frozen=True)
class Mirror:
    """A running mirror, as the test hosts reach it."""

    url: str  # http://<address>:<port>

    @property
    def timescale_apt_url(self) -> str:
        return f"{self.url}/timescale"

    @property
    def pgdg_apt_url(self) -> str:
        return f"{self.url}/pgdg"

    @property
    def pgdg_key_url(self) -> str:
        return f"{self.url}/pgdg/signing-key.asc"

    @property
    def foreign_key_url(self) -> str:
        """A key that signs nothing the mirror serves."""
        return f"{self.url}/foreign-key.asc"

    def inventory_data(self, version: str) -> dict:
        """The settings that point a native host's upstream install at this mirror."""
        return {
            "package_source": "upstream",
            "timescaledb_version": version,
            "timescale_apt_url": self.timescale_apt_url,
            "pgdg_apt_url": self.pgdg_apt_url,
            "pgdg_key_url": self.pgdg_key_url,
        }


def content() -> Path:
    """The published tree (every vendored release, PGDG's layout), built on first use."""
    timescale = {v: packages.timescaledb_debs(v) for v in vendor.RELEASES}
    pgdg = packages.pgdg_debs()
    keys = packages.signing_keys()
    builder = packages.builder_image()
    key = cache.key(sorted(str(p) for p in timescale.values()), str(pgdg), BUILD.read_text(),
                        builder, (keys / "pubring.kbx").stat().st_mtime_ns)  # fmt: skip
    path = cache.root() / f"mirror-{key}"

    def publish(out: Path) -> None:
        debs = out.parent / f".{out.name}-debs"
        try:
            (debs / "timescale").mkdir(parents=True, exist_ok=True)
            for directory in timescale.values():
                for deb in directory.glob("*.deb"):
                    (debs / "timescale" / deb.name).write_bytes(deb.read_bytes())
            mounts = {
                str(debs / "timescale"): "/debs/timescale:ro",
                str(pgdg): "/debs/pgdg:ro",
                str(keys): "/keys",
                str(BUILD): "/publish.sh:ro",
                str(out): "/mirror",
            }
            packages.run_builder(builder, mounts, ["/publish.sh"],
                                  {"DISTRO": DISTRO, "CODENAME": CODENAME})  # fmt: skip
        finally:
            testhosts.remove_tree(debs)
        testhosts.say(f"published the lab mirror in {path}")

    return cache.cached_dir(path, publish)


def serve(name: str) -> Mirror:
    """Run (or keep) the mirror container `name`; its URL as the test hosts reach it."""
    root = content()
    image = packages.builder_image()
    if not _serving(name, root):
        testhosts.remove(name)
        testhosts.run([
            "docker", "run", "--detach", "--name", name, "--label", f"{testhosts.LABEL}=1",
            "--label", f"tsdb-deploy.mirror={root}", "--read-only",
            "-v", f"{root}:/srv/mirror:ro", image,
            "python3", "-m", "http.server", "--directory", "/srv/mirror", str(HTTP_PORT),
        ])  # fmt: skip
    mirror = running(name)
    _wait_until_serving(name, mirror)
    return mirror


def running(name: str) -> Mirror:
    """The mirror container `name` as it runs now (started by serve())."""
    if not testhosts.is_running(name):
        raise testhosts.TestHostError(f"the lab mirror {name} is not running (serve() starts it)")
    return Mirror(f"http://{testhosts.address(name)}:{HTTP_PORT}")


def _serving(name: str, root: Path) -> bool:
    """`name` runs and serves `root` (a mirror of older content is replaced)."""
    return testhosts.is_running(name) and testhosts.label(name, "tsdb-deploy.mirror") == str(root)


def _wait_until_serving(name: str, mirror: Mirror) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    probe = f"{mirror.timescale_apt_url}/gpgkey"
    while True:
        try:
            with urllib.request.urlopen(probe, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise testhosts.TestHostError(f"mirror {name} not serving {probe}: {exc}") from None
        time.sleep(0.5)


def stop(name: str) -> None:
    testhosts.remove(name)
