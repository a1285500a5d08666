"""The packages the lab mirror publishes, built or fetched once per machine and cached by content.

- TimescaleDB's Community build, from the vendored upstream source (lab/vendor.py), packaged
  under the names and version scheme of Timescale's repository
  (`timescaledb-2-postgresql-17`, `timescaledb-2-loader-postgresql-17`, `2.19.3~debian13-1701`).
- PostgreSQL 17 and pgBackRest as Debian 13 ships them, for the mirror's PGDG layout: the
  PGDG repository is out of reach too, and Debian's packages are what it would serve (the same
  postgresql-common packaging, same binaries' layout).

Everything runs in a builder container (Debian 13 with the build tools): this machine needs
only Docker and debootstrap. Each output directory is named after a hash of everything that
went into it (archive checksum, build script, builder image), so a change rebuilds and an
unchanged input is never built twice.
"""

from __future__ import annotations

from pathlib import Path

from . import cache, testhosts, vendor

PG = 17
DISTRO, CODENAME, DISTRO_TAG = "debian", "trixie", "debian13"
RECIPES = Path(__file__).resolve().parent / "recipes"
BUILDER_REPO = "tsdb-lab-builder"
BUILDER_PACKAGES = (
    f"postgresql-server-dev-{PG}", "cmake", "gcc", "make", "libssl-dev", "libicu-dev",
    "dpkg-dev", "apt-utils", "gnupg", "ca-certificates", "python3", "xz-utils",
)  # fmt: skip
# What production installs from PGDG: the server, its client, their common packaging, libpq,
# and pgBackRest (apt.postgresql.org ships it too).
PGDG_PACKAGES = (
    f"postgresql-{PG}", f"postgresql-client-{PG}", "postgresql-common",
    "postgresql-client-common", "libpq5", "pgbackrest",
)  # fmt: skip
TIMESCALE_PACKAGES = (f"timescaledb-2-postgresql-{PG}", f"timescaledb-2-loader-postgresql-{PG}")
SIGNING_UID = "lab-mirror@tsdb-deploy.invalid"
FOREIGN_UID = "lab-foreign@tsdb-deploy.invalid"


def deb_version(version: str) -> str:
    """Timescale's version scheme: upstream version, ~distribution, -<PG major>01."""
    return f"{version}~{DISTRO_TAG}-{PG}01"


def builder_image() -> str:
    tag = testhosts.image_tag(packages=BUILDER_PACKAGES, repo=BUILDER_REPO)
    return testhosts.ensure_image(tag, BUILDER_PACKAGES, testhosts.customize_tool_rootfs, ())


def run_builder(image: str, mounts: dict[str, str], command: list[str], env: dict | None = None,
                 timeout: float = 1800) -> str:  # fmt: skip
    args = ["docker", "run", "--rm", "--label", f"{testhosts.LABEL}=1"]
    for source, target in mounts.items():
        args += ["-v", f"{source}:{target}"]
    for name, value in (env or {}).items():
        args += ["-e", f"{name}={value}"]
    return testhosts.run([*args, image, *command], timeout=timeout).stdout


def timescaledb_debs(version: str) -> Path:
    """Directory holding the two .debs of TimescaleDB `version` (built on first use)."""
    archive = vendor.archive(version)  # verified before anything is built
    script = RECIPES / "timescaledb-debs.sh"
    builder = builder_image()
    inputs = cache.key(vendor.RELEASES[version], script.read_text(), builder)
    path = cache.root() / f"timescaledb-{version}-{inputs}"

    def build(out: Path) -> None:
        testhosts.say(f"building TimescaleDB {version} packages (a few minutes)...")
        run_builder(
            builder,
            {
                str(archive): f"/src/{archive.name}:ro",
                str(script): "/build.sh:ro",
                str(out): "/out",
            },
            ["/build.sh"],
            {"VERSION": version, "PG": PG, "DEB_VERSION": deb_version(version)},
        )
        testhosts.say(f"built TimescaleDB {version} packages")

    return cache.cached_dir(path, build)


def pgdg_debs() -> Path:
    """Directory holding Debian's PostgreSQL packages the mirror serves in the PGDG layout."""
    builder = builder_image()
    path = cache.root() / f"pgdg-{cache.key(PGDG_PACKAGES, builder)}"

    def fetch(out: Path) -> None:
        testhosts.say("fetching Debian's PostgreSQL packages for the PGDG layout...")
        run_builder(
            builder,
            {str(out): "/out"},
            ["sh", "-c", "apt-get -qq update && cd /out && apt-get -qq download "
             + " ".join(PGDG_PACKAGES)],
        )  # fmt: skip

    return cache.cached_dir(path, fetch)


def signing_keys() -> Path:
    """GNUPGHOME with the lab's signing key and a foreign key (made once per machine)."""
    path = cache.root() / "gnupg"

    def generate(out: Path) -> None:
        script = " && ".join(
            f"gpg --batch --passphrase '' --quick-gen-key '{uid}' rsa3072 sign never"
            for uid in (f"tsdb-deploy lab mirror <{SIGNING_UID}>",
                        f"tsdb-deploy lab, signs nothing <{FOREIGN_UID}>")
        )  # fmt: skip
        run_builder(builder_image(), {str(out): "/keys"}, ["sh", "-c", script],
                     {"GNUPGHOME": "/keys"})  # fmt: skip

    return cache.cached_dir(path, generate, mode=0o700)
