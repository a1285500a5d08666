"""One host's deploy, worked out and validated before any operation runs, in a straight line:

    settings -> runtime (paths, commands) -> facts -> hardware -> Plan -> render -> HostPlan

Any error stops the deploy during pyinfra's prepare stage, before a host is touched. This
module, settings.py and secrets.py are the only readers of the settings table's values; the
runtime, the render stage and the deploy steps get typed values from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File
from pyinfra.facts.server import Command, LinuxDistribution

from . import pgbackrest, preflight, render, scram, secrets, staging, tls
from .facts import (
    DiskFacts,
    DockerContainer,
    DockerImageContents,
    DockerImageId,
    EffectiveResources,
    FailingJobs,
    FileStates,
    HypertableDimensions,
    MigrationLedger,
    PgbackrestInfo,
    PostgresDatabase,
    PostgresIds,
    PostgresServer,
    TableIndexes,
    TimescaledbVersions,
    batch,
)
from .facts.host import ServiceStates
from .migrations import EVENTS, Migration, MigrationError, discover
from .operations.backups import BACKUP_STATUS, pgbackrest_version
from .planner import Hardware, Plan, PlanError, Workload, plan
from .planner.chunks import WHOLE_CHUNK_POLICIES
from .preflight import PreflightError
from .render import BACKUP_CONF, Directory, FileValues, HostFile, RenderError
from .render.backups import TIERS
from .restart_guard import BACKUP_LOCK_NAME, RestartGuard
from .runtimes import RUNTIMES, Distro, Runtime, RuntimeConfigError
from .runtimes.native import PIN_PATH
from .settings import SettingsError, resolve
from .units import format_size


class DeployConfigError(PyinfraError):
    """Bad inventory data, impossible hardware or a broken template, found before any change."""


@dataclass(frozen=True)
class HostPlan:
    """What the deploy steps carry out on one host."""

    name: str
    runtime: Runtime
    plan: Plan
    files: tuple[HostFile, ...]  # every file the host gets (render.host_files)
    directories: tuple[Directory, ...]  # and the directories whose owner and mode matter
    database: str
    app_user: str
    owner_role: str
    app_verifier: str  # the application role's SCRAM verifier: the stored one if it matches
    monitor_role: str  # the exporter's login role (pg_monitor)
    monitor_verifier: str
    role_settings: dict  # role -> {parameter: value}: the roles' own limits (ALTER ROLE SET)
    migrations: tuple[Migration, ...]
    schema_variables: dict  # psql variables of the migrations (sql/README.md)
    events_properties_index: bool
    image_archive: str | None  # docker: a `docker save` archive to load instead of pulling
    lock_wait_s: int  # how long a run waits for another run's deploy lock (deploy_lock.py)
    backup_dir: str  # the logical backups (tsdb-backup's BACKUP_DIR)
    environment: str  # production, staging or development (staging rebuilds read it)
    restart_guard: RestartGuard  # a restart waits for running backups (restart_guard.py)

    def files_of(self, step: str) -> list[HostFile]:
        return [f for f in self.files if f.step == step]

    def directories_of(self, step: str) -> list[Directory]:
        return [d for d in self.directories if d.step == step]

    @property
    def known_paths(self) -> list[str]:
        """Every path whose state a step reads: all are read in one command (facts.batch)."""
        keyrings = [s.keyring for s in self.runtime.upstream_sources()]
        paths = [*(d.path for d in self.directories), self.runtime.config_dir,
                 *(f.path for f in self.files), *keyrings,
                 *render.absent_files(self.runtime)]  # fmt: skip
        if self.runtime.pitr:
            paths.append(pgbackrest.CHECKED_PATH)
        return list(dict.fromkeys(paths))

    @property
    def services(self) -> list[str]:
        """The systemd units the steps keep running."""
        rt = self.runtime
        ours = ["postgresql", rt.service, "pgbouncer"] if rt.name == "native" else ["docker"]
        return [*ours, *render.exporter.SERVICES]

    def reads(self) -> list[tuple[type, dict]]:
        """The facts a run's steps read, with the arguments they pass: a converged host
        answers all of them in one command (facts.batch). What a step reads and is missing
        here is read on its own: this list is about speed, never about correctness."""
        rt, db = self.runtime, self.database
        server = {"server": rt.server, "database": db}
        reads = [
            (DebPackages, {}),
            (FileStates, {"paths": self.known_paths}),
            (ServiceStates, {"units": self.services}),
            (PostgresServer, {"server": rt.server}),
            (PostgresDatabase, server),
            (TimescaledbVersions, server),
            (MigrationLedger, server),
            (HypertableDimensions, server),
            (TableIndexes, {**server, "table": EVENTS}),
            (FailingJobs, server),
            (Command, {"command": BACKUP_STATUS}),
        ]
        if rt.pitr:
            reads.append((PgbackrestInfo, {"run_as_postgres": rt.run_as_postgres,
                                           "stanza": pgbackrest.STANZA}))  # fmt: skip
            reads.append((Command, {"command": pgbackrest_version(rt)}))
        if rt.name == "docker":
            reads += [
                (DockerImageId, {"ref": rt.image}),
                (PostgresIds, {"image": rt.image}),
                (File, {"path": f"{rt.data_path_on_host}/PG_VERSION"}),
                (DockerContainer, {"container": rt.container, "compose": rt.compose_file,
                                   "service": rt.compose_service}),
                (DockerContainer, {"container": rt.pooler_container, "compose": rt.compose_file,
                                   "service": rt.pooler_service}),
            ]  # fmt: skip
        return reads

    def file(self, path: str) -> HostFile:
        return next(f for f in self.files if f.path == path)

    def apt_install(self) -> dict:
        """What the upstream install converges (operations.upstream_packages' arguments): the
        repositories, their sources entries and pin, the packages, the pinned release."""
        rt = self.runtime
        native = rt.name == "native"
        return {
            "sources": rt.upstream_sources(),
            "files": {f.path: f.text for f in self.files_of("apt")},
            "packages": rt.packages(),
            "pinned": dict.fromkeys(rt.timescaledb_packages(), rt.timescaledb_version)
            if native
            else {},
            "setting": "timescaledb_version" if native else "docker_source",
        }


def runtime_for(settings: dict, distro: Distro) -> Runtime:
    """The host's runtime, its fields filled from the settings of the same name (or the one
    a field's metadata names)."""
    try:
        cls = RUNTIMES[settings["runtime"]]
    except KeyError:
        raise NotImplementedError(
            f"runtime {settings['runtime']!r} is not implemented yet (available: "
            f"{', '.join(RUNTIMES)})"
        ) from None
    values = {
        f.name: settings[f.metadata.get("setting", f.name)]
        for f in dataclasses.fields(cls)
        if f.name != "distro"
    }
    return cls(distro=distro, **values)


def distro_of(fact: dict | None) -> Distro:
    """The LinuxDistribution fact as a Distro, or an error for anything but Debian or Ubuntu."""
    fact = fact or {}
    name = (fact.get("name") or "").lower().split(" ")[0]
    if name not in ("debian", "ubuntu"):
        raise RuntimeConfigError(f"{name or 'unknown OS'} is not Debian or Ubuntu")
    codename = (fact.get("release_meta") or {}).get("VERSION_CODENAME", "")
    return Distro(name, fact.get("major"), codename)


def hardware_for(settings: dict, runtime: Runtime, resources, data_disk, wal_disk) -> Hardware:
    """Facts, lowered or replaced by what the inventory says PostgreSQL may use."""
    notes = list(resources.notes)
    memory, cpus = resources.memory_bytes, resources.cpus
    limit_memory, limit_cpus = runtime.resource_limits()
    if limit_memory is not None:
        if limit_memory > memory:
            raise SettingsError(
                f"the {runtime.name} runtime's memory limit ({format_size(limit_memory)}) "
                f"exceeds the {format_size(memory)} this host has"
            )
        memory = limit_memory
        notes.append(f"memory: {runtime.name} runtime limit {format_size(limit_memory)}")
    if limit_cpus is not None:
        if limit_cpus > cpus:
            raise SettingsError(
                f"the {runtime.name} runtime's CPU limit ({limit_cpus:g}) exceeds the "
                f"{cpus:g} CPUs this host has"
            )
        cpus = limit_cpus
        notes.append(f"cpus: {runtime.name} runtime limit {limit_cpus:g}")
    if settings["memory_limit"] is not None:
        memory = settings["memory_limit"]
        notes.append(f"memory: inventory memory_limit {format_size(memory)}")
    if settings["cpu_limit"] is not None:
        cpus = settings["cpu_limit"]
        notes.append(f"cpus: inventory cpu_limit {cpus:g}")
    storage = settings["storage_class"] or data_disk.storage
    notes += (
        [f"storage: inventory storage_class {storage}"]
        if settings["storage_class"]
        else list(data_disk.notes)
    )
    dedicated_wal = wal_disk.mount != data_disk.mount
    return Hardware(
        memory_bytes=memory,
        cpus=cpus,
        storage=storage,
        data_disk_bytes=data_disk.size_bytes,
        wal_disk_bytes=wal_disk.size_bytes if dedicated_wal else None,
        notes=tuple(notes),
    )


def workload_for(settings: dict, runtime: Runtime) -> Workload:
    return Workload(
        profile=settings["profile"],
        pg_version=settings["pg_version"],
        max_connections=settings["max_connections"],
        background_workers=settings["background_workers"],
        listen_addresses=runtime.server_listen_addresses(),
        port=settings["port"],
        archive_command=pgbackrest.archive_command() if settings["pitr"] else None,
        archive_timeout_s=settings["archive_timeout"],
        tls=settings["tls"],
        ssl_cert_file=runtime.server_tls_path(tls.CERT_NAME),
        ssl_key_file=runtime.server_tls_path(tls.KEY_NAME),
        events_per_day=settings["events_per_day"],
        chunk_policies=tuple((name, settings[name]) for name in WHOLE_CHUNK_POLICIES),
        pooler_max_client_conn=settings["pgbouncer_max_client_conn"],
        app_statement_timeout_s=settings["app_statement_timeout"],
        app_idle_in_transaction_timeout_s=settings["app_idle_in_transaction_timeout"],
    )


def schema_variables(settings: dict, the_plan: Plan) -> dict:
    return {
        "app_user": settings["app_user"],
        "owner_role": settings["owner_role"],
        "readonly_role": settings["readonly_role"],
        "chunk_interval": the_plan.chunk.interval,
        "space_partitions": settings["space_partitions"],
        "compress_after": settings["compress_after"],
        "retention": settings["retention"],
    }


def record(settings: dict, runtime: Runtime, the_plan: Plan, migrations) -> dict:
    """plan.json: where things are, so checks (tests/testinfra) need not know the runtime or
    the inventory; the plan with its reasons; the schema's values."""
    return {
        "deployment": {
            **runtime.record(),
            "database": settings["database"],
            "app_user": settings["app_user"],
            "port": settings["port"],
            "pgbouncer_port": settings["pgbouncer_port"],
            "pooler_config_dir": runtime.pooler_config_dir,
            "local_address": runtime.local_address(),
            "local_clients_allowed": runtime.local_clients_allowed(),
            "monitor_role": settings["monitor_role"],
            "exporter_listen_address": settings["exporter_listen_address"],
            "pgbouncer_exporter_listen_address": settings["pgbouncer_exporter_listen_address"],
            "node_exporter_listen_address": settings["node_exporter_listen_address"],
            "owner_role": settings["owner_role"],
            "tls": settings["tls"],
            "config_dir": runtime.config_dir,
            "conf_path": runtime.conf_path,
            "hba_path": runtime.hba_path,
            "tls_key_path": runtime.tls_path(tls.KEY_NAME) if settings["tls"] else None,
            "data_directory": runtime.data_path_on_host,
        },
        **the_plan.to_json(),
        "role_settings": role_settings(settings),
        "schema": {
            "migrations": {m.name: m.sha256 for m in migrations},
            "chunk_interval": the_plan.chunk.interval,
            "chunk_interval_reason": the_plan.chunk.reason,
            "space_partitions": settings["space_partitions"],
            "events_properties_index": settings["events_properties_index"],
            "readonly_role": settings["readonly_role"],
            "owner_role": settings["owner_role"],
            "compress_after": settings["compress_after"],
            "retention": settings["retention"],
        },
    }


def file_values(
    name: str,
    settings: dict,
    rec: dict,
    app_verifier: str,
    monitor_password: str,
    monitor_verifier: str,
) -> FileValues:
    return FileValues(
        host_name=name,
        environment=settings["environment"],
        database=settings["database"],
        app_user=settings["app_user"],
        app_verifier=app_verifier,
        owner_role=settings["owner_role"],
        tls=settings["tls"],
        record=rec,
        backup_dir=settings["BACKUP_DIR"],
        backups_kept={t: settings[f"MAX_{t.upper()}_BACKUPS"] for t in TIERS},
        backup_compression=settings["BACKUP_COMPRESSION"],
        pgbackrest_repo_path=settings["pgbackrest_repo_path"],
        pgbackrest_repo2_path=settings["pgbackrest_repo2_path"],
        pgbackrest_retention_full=settings["pgbackrest_retention_full"],
        docker_daemon=settings["docker_daemon"],
        docker_daemon_environment=settings["docker_daemon_environment"],
        status_thresholds=settings["status_thresholds"],
        monitor_role=settings["monitor_role"],
        monitor_password=monitor_password,
        monitor_verifier=monitor_verifier,
        exporter_listen=settings["exporter_listen_address"],
        pgbouncer_exporter_listen=settings["pgbouncer_exporter_listen_address"],
        node_exporter_listen=settings["node_exporter_listen_address"],
    )


def verifier_for(password: str, database_state, role: str) -> str:
    """The SCRAM verifier a login role is given (and, for the application role, PgBouncer's
    userlist holds): the stored one while it matches the password (so a converged host
    changes nothing), else a new one (the password changed, or the role is new)."""
    stored = database_state.roles.get(role) if database_state else None
    if stored and scram.verify(password, stored):
        return stored
    return scram.make_verifier(password)


# The exporters' role: no statistic is worth more than Prometheus's default scrape timeout
# (10 s), and a scrape that waits for a lock (a chunk being dropped or compressed) gives up at
# once instead of queueing the application's statements behind its own.
MONITOR_STATEMENT_TIMEOUT_S = 10
MONITOR_LOCK_TIMEOUT_S = 1


def role_settings(settings: dict) -> dict:
    """Each role's own limits, in seconds as ALTER ROLE ... SET writes them; 0 turns one off
    (PostgreSQL's own meaning of 0 for these parameters)."""

    def seconds(name: str) -> str:
        return f"{settings[name]}s"

    return {
        settings["app_user"]: {
            "statement_timeout": seconds("app_statement_timeout"),
            "lock_timeout": seconds("app_lock_timeout"),
            "idle_in_transaction_session_timeout": seconds("app_idle_in_transaction_timeout"),
        },
        settings["readonly_role"]: {
            "statement_timeout": seconds("readonly_statement_timeout"),
        },
        settings["monitor_role"]: {
            "statement_timeout": f"{MONITOR_STATEMENT_TIMEOUT_S}s",
            "lock_timeout": f"{MONITOR_LOCK_TIMEOUT_S}s",
        },
    }


def planning_reads(runtime: Runtime, database: str) -> list[tuple[type, dict]]:
    """What sizing and the preflight read, in one command: the resources, the disks, the
    databases' TimescaleDB, the installed packages, the image (docker)."""
    reads = [
        (EffectiveResources, {"unit": runtime.cgroup_unit}),
        (DiskFacts, {"path": runtime.data_path_on_host}),
        (DiskFacts, {"path": f"{runtime.data_path_on_host}/pg_wal"}),
        (TimescaledbVersions, {"server": runtime.server, "database": database}),
        (PostgresDatabase, {"server": runtime.server, "database": database}),
        (DebPackages, {}),
    ]
    if runtime.name == "docker":
        reads.append(
            (DockerImageContents, {"image": runtime.image, "tools": list(runtime.image_tools())})
        )
    if runtime.upstream_sources():
        reads.append((FileStates, {"paths": apt_paths(runtime)}))
    return reads


def apt_paths(runtime: Runtime) -> list[str]:
    """The upstream install's files and keyrings, in the order upstream_pending reads them."""
    sources = runtime.upstream_sources()
    pin = [PIN_PATH] if runtime.name == "native" else []
    return [*(s.list_path for s in sources), *pin, *(s.keyring for s in sources)]


def from_facts(name: str, data: dict, distro_fact, read) -> HostPlan:
    """The HostPlan from inventory data and the host's facts, `read(fact, **kwargs)` giving
    each (host.get_fact, or a recording). Pure but for reading the TLS files, the password
    and sql/: a recorded host's inputs give its files again (tests/unit/test_host_files.py)."""
    settings = resolve(data, name)
    return plan_host(name, settings, runtime_for(settings, distro_of(distro_fact)), read)


def plan_host(name: str, settings: dict, runtime: Runtime, read) -> HostPlan:
    """The HostPlan from resolved settings, the host's runtime and its facts (`read`)."""
    runtime.check()
    data_path = runtime.data_path_on_host
    hardware = hardware_for(
        settings,
        runtime,
        read(EffectiveResources, unit=runtime.cgroup_unit),
        read(DiskFacts, path=data_path),
        read(DiskFacts, path=f"{data_path}/pg_wal"),
    )
    the_plan = plan(
        hardware,
        workload_for(settings, runtime),
        settings["postgres_overrides"],
        settings["acknowledge_unsafe"],
    )
    server_tls = (
        tls.load(settings["tls_cert_file"], settings["tls_key_file"], name)
        if settings["tls"]
        else None
    )
    migrations = discover()
    state = read(PostgresDatabase, server=runtime.server, database=settings["database"])
    verifier = verifier_for(secrets.app_password(settings, name), state, settings["app_user"])
    monitor = settings["monitor_role"]
    monitor_password = secrets.monitor_password(settings, name)
    monitor_verifier = verifier_for(monitor_password, state, monitor)
    rec = record(settings, runtime, the_plan, migrations)
    values = file_values(name, settings, rec, verifier, monitor_password, monitor_verifier)
    return HostPlan(
        name=name,
        runtime=runtime,
        plan=the_plan,
        files=tuple(render.host_files(runtime, the_plan, values, server_tls)),
        directories=tuple(render.host_directories(runtime, values)),
        database=settings["database"],
        app_user=settings["app_user"],
        owner_role=settings["owner_role"],
        app_verifier=verifier,
        monitor_role=monitor,
        monitor_verifier=monitor_verifier,
        role_settings=role_settings(settings),
        migrations=tuple(migrations),
        schema_variables=schema_variables(settings, the_plan),
        events_properties_index=settings["events_properties_index"],
        image_archive=settings["timescaledb_image_archive"],
        lock_wait_s=settings["deploy_lock_wait"],
        backup_dir=settings["BACKUP_DIR"],
        environment=settings["environment"],
        restart_guard=RestartGuard(
            backup_lock=f"{settings['BACKUP_DIR'].rstrip('/')}/{BACKUP_LOCK_NAME}",
            wait_s=settings["restart_backup_wait"],
            data_path=runtime.data_path_on_host,
        ),
    )


ERRORS = (
    SettingsError, PlanError, RenderError, NotImplementedError, MigrationError, PreflightError,
    RuntimeConfigError, tls.TLSError,
)  # fmt: skip


def build(host) -> HostPlan:
    """The host's plan from pyinfra's inventory and facts, checked against the host as it is
    (preflight); any error is one line naming the host."""
    batch.install(host.state)

    def read(fact, **kwargs):
        return batch.read(host, fact, **kwargs)

    try:
        settings = resolve(dict(host.data.dict()), host.name)
        runtime = runtime_for(settings, distro_of(host.get_fact(LinuxDistribution)))
        # sizing's and the preflight's reads, in one command at the first of them
        batch.expect(host.name, planning_reads(runtime, settings["database"]))
        hp = plan_host(host.name, settings, runtime, read)
        preflight.check(host, hp)
        batch.expect(host.name, hp.reads())
    except ERRORS as exc:
        message = str(exc)
        if not message.startswith(host.name):
            message = f"{host.name}: {message}"
        raise DeployConfigError(message) from None
    return hp


@dataclass(frozen=True)
class HostRole:
    """What a staging rebuild needs to know of a host before anything else: from its
    inventory data only (no facts, no secrets)."""

    name: str
    environment: str
    database: str


def host_role(host) -> HostRole:
    try:
        settings = resolve(dict(host.data.dict()), host.name)
    except SettingsError as exc:
        raise DeployConfigError(str(exc)) from None
    return HostRole(host.name, settings["environment"], settings["database"])


def check_rebuild_target(host, hp: HostPlan, pick) -> None:
    """A staging rebuild's refusals on the target, before anything changes on it: not a
    production host, the backup's TimescaleDB and migrations, room for the copy and the
    restore (staging.py)."""
    try:
        staging.target_allowed(host.name, hp.environment)
        conf = host.get_fact(File, path=BACKUP_CONF)
        recorded = host.get_fact(Command, command=f"cat {BACKUP_CONF}") if conf else None
        problem = staging.recorded_environment_problem(host.name, recorded)
        if problem:
            raise staging.StagingError(problem)
        if hp.runtime.pitr:
            raise staging.StagingError(
                f"{host.name}: pitr is on: the restore's WAL (production's unmasked rows) would "
                "be archived; set pitr = false on staging hosts"
            )
        copy = batch.read(host, DiskFacts, path=f"{hp.backup_dir}/{staging.INCOMING}")
        data = batch.read(host, DiskFacts, path=hp.runtime.data_path_on_host)
        roles = {hp.app_user, hp.owner_role, hp.monitor_role,
                 hp.schema_variables["readonly_role"]}  # fmt: skip
        problems = staging.schema_problems(
            pick.meta, list(hp.migrations), hp.runtime.timescaledb_version, roles
        ) + staging.space_problems(pick.meta, copy, data)
    except staging.StagingError as exc:
        raise DeployConfigError(str(exc)) from None
    if problems:
        raise DeployConfigError(
            f"{host.name}: cannot take {pick.name} from {pick.source_host}: " + "; ".join(problems)
        )
