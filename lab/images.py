"""TimescaleDB images for the docker runtime, built from the lab's packages.

The Community build, one image per vendored release, made the way `timescale/timescaledb`
images are made: PostgreSQL 17 with the TimescaleDB packages installed, binaries on PATH, a
`postgres` user and no cluster. That is the whole contract the docker runtime relies on, so
the deploy runs them through the same code path as the upstream image (by tag, loaded from a
`docker save` archive as an air-gapped site would).

Every version shares one PostgreSQL layer (debootstrap: Debian 13, PostgreSQL 17, pgBackRest,
PgBouncer), so a host that loads a second version's archive only adds TimescaleDB's own layer.
"""

from __future__ import annotations

from pathlib import Path

from . import cache, packages, testhosts

POSTGRES_REPO = "tsdb-lab-postgres"
IMAGE_REPO = "tsdb-lab-timescaledb"
POSTGRES_PACKAGES = (f"postgresql-{packages.PG}", "pgbackrest", "pgbouncer", "ca-certificates")
RECIPE = 3  # bump when testhosts.customize_postgres_rootfs changes (3: postgres as uid 70)
IMAGE_CHANGES = (
    f"ENV PATH=/usr/lib/postgresql/{packages.PG}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
    "/usr/bin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["postgres"]',
)


def postgres_image() -> str:
    """Debian 13 with PostgreSQL 17 and pgBackRest, no cluster: every version's base."""
    tag = testhosts.image_tag(packages=POSTGRES_PACKAGES, repo=POSTGRES_REPO, recipe=RECIPE)
    return testhosts.ensure_image(
        tag, POSTGRES_PACKAGES, testhosts.customize_postgres_rootfs, IMAGE_CHANGES
    )


def image_tag(version: str) -> str:
    """`tsdb-lab-timescaledb:<version>-pg17-<inputs>`: pinned by tag, as the deploy requires."""
    debs = packages.timescaledb_debs(version)
    return f"{IMAGE_REPO}:{version}-pg{packages.PG}-{cache.key(postgres_image(), debs.name)}"


def ensure_image(version: str) -> str:
    """The Community image of TimescaleDB `version`, built on first use; its tag."""
    tag = image_tag(version)
    if testhosts.image_exists(tag):
        return tag
    debs = packages.timescaledb_debs(version)
    with testhosts.machine_lock("lab-build"):
        if testhosts.image_exists(tag):
            return tag
        testhosts.say(f"building image {tag}...")
        builder = f"tsdb-lab-image-build-{cache.key(tag)}"
        testhosts.remove(builder)
        try:
            testhosts.run([
                "docker", "run", "--name", builder, "--label", f"{testhosts.LABEL}=1",
                "-v", f"{debs}:/debs:ro", postgres_image(),
                "sh", "-c", "dpkg -i /debs/*.deb >/dev/null",
            ], timeout=600)  # fmt: skip
            changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
            testhosts.run(["docker", "commit", *changes, builder, tag], timeout=600)
        finally:
            testhosts.remove(builder)
    return tag


def archive(version: str) -> tuple[str, Path]:
    """The image of `version` and its `docker save` archive, for `timescaledb_image_archive`."""
    tag = ensure_image(version)
    path = cache.root() / "images" / (tag.replace(":", "_") + ".tar")
    if not path.exists():
        with testhosts.machine_lock("lab-build"):
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial")
                testhosts.run(["docker", "save", "-o", str(partial), tag], timeout=900)
                partial.rename(path)
    return tag, path


def docker_host_data(
    version: str, container_memory: str = "2GiB", container_cpus: float = 1
) -> dict:
    """Inventory data of a docker-runtime test host running the Community image of `version`,
    shipped as an archive (no registry is reachable here), with the container's limits."""
    tag, path = archive(version)
    return {
        "docker_source": "distro",  # Debian's docker.io: Docker's own repository is unreachable
        # Test hosts are containers whose /proc/sys is read-only: Docker's bridge networking
        # needs this documented switch there (a real host does not).
        "docker_daemon_environment": {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"},
        "timescaledb_version": version,
        "timescaledb_image": tag,
        "timescaledb_image_archive": str(path),
        "container_memory": container_memory,
        "container_cpus": container_cpus,
    }
