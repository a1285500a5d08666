"""pgBackRest for point-in-time recovery: one stanza, WAL archived by PostgreSQL's
archive_command, full backups weekly and differential daily from cron."""

from __future__ import annotations

from io import StringIO

from pyinfra.operations import files

from . import render

STANZA = "tsdb"
LOG_LEVEL = "info"


def archive_command() -> str:
    return f"pgbackrest --stanza={STANZA} archive-push %p"


def cron_text() -> str:
    run = f"tsdb-pg pgbackrest --stanza={STANZA}"
    jobs = [
        f"30 1 * * 0 postgres {run} --type=full backup 2>&1 | logger -t pgbackrest",
        f"30 1 * * 1-6 postgres {run} --type=diff backup 2>&1 | logger -t pgbackrest",
    ]
    return render.cron_file("pgBackRest: full backup weekly, differential daily, as postgres", jobs)


def conf_text(ctx) -> str:
    runtime, settings = ctx.runtime, ctx.settings
    return render.render(
        "pgbackrest.conf.j2",
        host_name=ctx.name,
        runtime=runtime.name,
        repo_path=settings["pgbackrest_repo_path"],
        repo2_path=settings["pgbackrest_repo2_path"],
        retention_full=settings["pgbackrest_retention_full"],
        process_max=max(1, ctx.plan.hardware.whole_cpus // 2),
        log_path=runtime.pgbackrest_log_path,
        stanza=STANZA,
        pgdata=runtime.data_directory,
        socket_dir="/var/run/postgresql",
        port=runtime.port,
    )


def install_files(ctx) -> None:
    """Repositories and pgbackrest.conf: in place before PostgreSQL starts archiving."""
    runtime, settings = ctx.runtime, ctx.settings
    files.directory(
        name="pgBackRest repository", path=settings["pgbackrest_repo_path"],
        user="postgres", mode="750",
    )  # fmt: skip
    if settings["pgbackrest_repo2_path"]:
        files.directory(
            name="pgBackRest second repository", path=settings["pgbackrest_repo2_path"],
            user="postgres", mode="750",
        )  # fmt: skip
    files.directory(name="pgBackRest log directory", path=runtime.pgbackrest_log_path,
                    user="postgres", mode="750")  # fmt: skip
    files.directory(name="pgBackRest config directory", path=runtime.pgbackrest_conf_dir,
                    mode="755")  # fmt: skip
    files.put(
        name="pgbackrest.conf",
        src=StringIO(conf_text(ctx)),
        dest=f"{runtime.pgbackrest_conf_dir}/pgbackrest.conf",
        user="postgres",
        mode="640",
    )
