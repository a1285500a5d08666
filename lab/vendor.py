"""The upstream TimescaleDB source releases the lab builds its packages from.

Timescale's apt repository and Docker Hub are out of reach here, while production installs the
Community build from them. The lab builds that build itself from the unmodified release
archives (`git archive` of the release tags), verified against the checksums pinned below:
a missing or altered archive stops the build with one line, before anything is built.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The releases the lab publishes, oldest first, with the sha256 of each upstream archive
# (../shared/vendor/timescaledb/SHA256SUMS, pinned here so a changed file cannot go unnoticed).
RELEASES = {
    "2.19.3": "70f0807d121cd9ec3828d3e8bed7ea0cdff47f50fab090406e22f49e4ced6cef",
    "2.29.2": "964a1a10660cf1aacc37b86fae07cf9381110cd2afe3f8f7f9f2a1162a58a623",
}
ENV = "TSDB_VENDOR_DIR"
# Where the archives are looked for: $TSDB_VENDOR_DIR, the shared folder beside this checkout,
# and the workplace's shared folder (a clone elsewhere on the same machine finds it there).
SEARCH = (ROOT / "vendor" / "timescaledb", ROOT.parent / "shared" / "vendor" / "timescaledb",
          Path("/work/shared/vendor/timescaledb"))  # fmt: skip


class VendorError(RuntimeError):
    """A vendored archive is missing or is not the pinned upstream release."""


def archive_name(version: str) -> str:
    return f"timescaledb-{version}.tar.gz"


def directories() -> list[Path]:
    configured = os.environ.get(ENV)
    return [Path(configured)] if configured else list(SEARCH)


def archive(version: str) -> Path:
    """The verified archive of `version`, or VendorError naming what is wrong."""
    if version not in RELEASES:
        raise VendorError(
            f"TimescaleDB {version} is not vendored (the lab builds {', '.join(RELEASES)})"
        )
    name = archive_name(version)
    found = next((d / name for d in directories() if (d / name).is_file()), None)
    if found is None:
        where = ", ".join(str(d) for d in directories())
        raise VendorError(f"{name} not found in {where}: set {ENV} to the folder holding it")
    digest = sha256_file(found)
    if digest != RELEASES[version]:
        raise VendorError(
            f"{found} has sha256 {digest}, not the pinned {RELEASES[version]}: "
            "the archive is corrupt or not the upstream release"
        )
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
