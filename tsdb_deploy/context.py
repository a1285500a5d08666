"""Everything one host's deploy needs, worked out and validated before any operation runs.

inventory data -> settings -> runtime -> facts -> hardware -> plan -> rendered files.
Any error here stops the deploy during pyinfra's prepare stage, before a host is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError

from . import pgbackrest, preflight, render, runtimes, secrets, tls
from .facts import DiskFacts, EffectiveResources
from .migrations import MigrationError, discover
from .operations.config import ServerFile
from .planner import Hardware, Plan, PlanError, Workload, plan
from .planner.chunks import WHOLE_CHUNK_POLICIES, chunk_interval
from .preflight import PreflightError
from .render import RenderError
from .settings import SettingsError, resolve
from .units import format_size


class DeployConfigError(PyinfraError):
    """Bad inventory data, impossible hardware or a broken template, found before any change."""


@dataclass(frozen=True)
class HostContext:
    name: str
    settings: dict
    runtime: runtimes.Runtime
    plan: Plan
    server_files: list  # ServerFile: the TLS certificate and key, pg_hba.conf, postgresql.conf
    plan_json: str
    password: str
    migrations: list
    schema: dict  # psql variables of the migrations: the sized chunk interval and the rest


def hardware_for(settings: dict, runtime, resources, data_disk, wal_disk) -> Hardware:
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


def build(host) -> HostContext:
    try:
        settings = resolve(dict(host.data.dict()), host.name)
        runtime = runtimes.for_settings(settings)
        resources = host.get_fact(EffectiveResources, unit=runtime.cgroup_unit)
        data_disk = host.get_fact(DiskFacts, path=runtime.data_path_on_host)
        wal_disk = host.get_fact(DiskFacts, path=f"{runtime.data_path_on_host}/pg_wal")
        hardware = hardware_for(settings, runtime, resources, data_disk, wal_disk)
        server_tls = (
            tls.load(settings["tls_cert_file"], settings["tls_key_file"], host.name)
            if settings["tls"]
            else None
        )
        workload = Workload(
            profile=settings["profile"],
            pg_version=settings["pg_version"],
            max_connections=settings["max_connections"],
            background_workers=settings["background_workers"],
            listen_addresses=runtime.listen_addresses(),
            port=settings["port"],
            archive_command=pgbackrest.archive_command() if settings["pitr"] else None,
            archive_timeout_s=settings["archive_timeout"],
            tls=settings["tls"],
            ssl_cert_file=runtime.server_tls_path(tls.CERT_NAME),
            ssl_key_file=runtime.server_tls_path(tls.KEY_NAME),
        )
        the_plan = plan(
            hardware, workload, settings["postgres_overrides"], settings["acknowledge_unsafe"]
        )
        conf = render.postgresql_conf(
            the_plan, host_name=host.name, runtime=runtime.name, locations=runtime.locations()
        )
        hba = render.pg_hba_conf(
            host_name=host.name,
            database=settings["database"],
            app_user=settings["app_user"],
            owner_role=settings["owner_role"],
            networks=runtime.hba_networks(),
            tls=settings["tls"],
        )
        ident = render.pg_ident_conf(host_name=host.name, owner_role=settings["owner_role"])
        server_files = [
            ServerFile(runtime.ident_path, ident),
            ServerFile(runtime.hba_path, hba),
            ServerFile(runtime.conf_path, conf, validate=True),
        ]
        if server_tls is not None:  # before the config that names them is validated
            server_files[:0] = [
                ServerFile(runtime.tls_path(tls.CERT_NAME), server_tls.cert_text),
                ServerFile(runtime.tls_path(tls.KEY_NAME), server_tls.key_text, secret=True),
            ]
        preflight.check(host, settings, runtime)
        password = secrets.app_password(settings, host.name)
        migrations = discover()
        chunk = chunk_interval(
            settings["events_per_day"],
            shared_buffers=the_plan.parameters["shared_buffers"].value,
            policies={name: settings[name] for name in WHOLE_CHUNK_POLICIES},
        )
    except (
        SettingsError, PlanError, RenderError, NotImplementedError, MigrationError, PreflightError,
        tls.TLSError,
    ) as exc:  # fmt: skip
        message = str(exc)
        if not message.startswith(host.name):
            message = f"{host.name}: {message}"
        raise DeployConfigError(message) from None
    record = {
        # where things are, so checks (tests/testinfra) need not know the runtime or inventory
        "deployment": {
            **runtime.record(),
            "database": settings["database"],
            "app_user": settings["app_user"],
            "port": settings["port"],
            "owner_role": settings["owner_role"],
            "tls": settings["tls"],
            "config_dir": runtime.config_dir,
            "conf_path": runtime.conf_path,
            "hba_path": runtime.hba_path,
            "tls_key_path": runtime.tls_path(tls.KEY_NAME) if settings["tls"] else None,
            "data_directory": runtime.data_path_on_host,
        },
        **the_plan.to_json(),
        "schema": {
            "migrations": {m.name: m.sha256 for m in migrations},
            "chunk_interval": chunk.interval,
            "chunk_interval_reason": chunk.reason,
            "space_partitions": settings["space_partitions"],
            "events_properties_index": settings["events_properties_index"],
            "readonly_role": settings["readonly_role"],
            "owner_role": settings["owner_role"],
            "compress_after": settings["compress_after"],
            "retention": settings["retention"],
        },
    }
    schema = {
        "app_user": settings["app_user"],
        "owner_role": settings["owner_role"],
        "readonly_role": settings["readonly_role"],
        "chunk_interval": chunk.interval,
        "space_partitions": settings["space_partitions"],
        "compress_after": settings["compress_after"],
        "retention": settings["retention"],
    }
    return HostContext(
        name=host.name,
        settings=settings,
        runtime=runtime,
        plan=the_plan,
        server_files=server_files,
        plan_json=json.dumps(record, indent=2, sort_keys=True) + "\n",
        password=password,
        migrations=migrations,
        schema=schema,
    )
