"""Installing each runtime, and keeping its service running: the only steps whose operations
differ by runtime (apt and systemd for native; Docker, the image and compose for docker)."""

from __future__ import annotations

from .. import operations
from ..host_plan import HostPlan
from ..operations import docker


def _packages(hp: HostPlan, what: str, upstream: str) -> None:
    """The runtime's packages: from the upstream repositories it declares (keys, sources
    entries, pin; checked by apt first), else from the distribution."""
    rt = hp.runtime
    if rt.upstream_sources():
        operations.upstream_packages(name=f"Install {what} {upstream}", known=hp.known_paths,
                                     **hp.apt_install())  # fmt: skip
    else:
        operations.packages_installed(name=f"Install {what}", packages=rt.packages())


def _native(hp: HostPlan) -> None:
    rt = hp.runtime
    operations.packages_installed(
        name="Install apt prerequisites",
        packages=["ca-certificates", "gnupg", "curl", "postgresql-common"],
    )
    operations.host_files(
        name="Cluster creation options (encoding, collation, data checksums)",
        files=hp.files_of("install"),
        known=hp.known_paths,
    )
    _packages(hp, f"PostgreSQL {rt.pg_version} and TimescaleDB",
              f"{rt.timescaledb_version} from PGDG and Timescale (pinned)")  # fmt: skip


def _docker(hp: HostPlan) -> None:
    rt = hp.runtime
    _packages(hp, "Docker", "from Docker's repository")
    docker.docker_daemon(
        name="Docker daemon configuration",
        files={f.path: f.text for f in hp.files_of("install")},
        known=hp.known_paths,
    )
    operations.service_running(
        name="Docker running, enabled at boot", service="docker", enabled=True,
        known=hp.services,
    )  # fmt: skip
    docker.image(
        name=f"TimescaleDB image {rt.image}",
        ref=rt.image,
        archive=hp.image_archive,
        timescaledb=rt.timescaledb_version,
        tools=rt.image_tools(),
    )
    docker.host_postgres_user(
        name="Host user postgres (the image's ids)",
        image=rt.image,
        containers=[rt.container, rt.pooler_container],
        owned=rt.postgres_owned_paths(),
    )
    docker.data_directory(
        name="Data directory initialised",
        image=rt.image,
        volume=rt.data_volume,
        pgdata_on_host=rt.data_path_on_host,
        initdb_args=rt.initdb_args(),
    )


INSTALL = {"native": _native, "docker": _docker}


def runtime_installed(hp: HostPlan) -> None:
    """PostgreSQL and TimescaleDB installed; a cluster initialised."""
    INSTALL[hp.runtime.name](hp)


def service_running(hp: HostPlan) -> None:
    """The database service enabled at boot and running as declared."""
    rt = hp.runtime
    if rt.name == "native":
        # postgresql.service starts every cluster at boot; the instance unit is the cluster.
        operations.service_running(name="PostgreSQL enabled at boot", service="postgresql",
                                   enabled=True, known=hp.services)  # fmt: skip
        operations.service_running(name=f"{rt.service} running", service=rt.service,
                                   known=hp.services)  # fmt: skip
        return
    docker.compose_service(
        name="Database container up to date and healthy",
        container=rt.container,
        compose_file=rt.compose_file,
        service=rt.compose_service,
        image=rt.image,
        up=rt.up(),
        wait_ready=rt.wait_ready(),
        restart=(rt, hp.restart_guard),
    )
