"""Failures with a known upstream cause: how to recognise them, and what they mean.

The deploy, the testinfra checks and the sandbox's summary all diagnose from this table, so an
operator reads the same explanation wherever the failure shows.
"""

from __future__ import annotations

from .apt import release

# error message fragment (timescaledb_information.job_errors) -> diagnosis
JOB_FAILURES = {
    'cannot drop portal "" while it is being set up': (
        "TimescaleDB's background job runner is incompatible with this PostgreSQL minor "
        "release (found with TimescaleDB 2.19.3 and 2.29.2 on PostgreSQL 17.12: the job runner "
        "in tsl/src/bgw_policy/job.c drops a portal it never started, which PostgreSQL 17.12 "
        "refuses). Every scheduled policy fails: nothing is compressed, dropped by retention "
        "or materialized in the background. Run a policy by hand with CALL run_job(<job_id>), "
        "which works, and move to a TimescaleDB release that fixes it, or hold PostgreSQL at "
        "the minor release before 17.12"
    ),
}


def diagnose(error: str) -> str | None:
    """The known cause of a job's error message, or None."""
    return next((why for sign, why in JOB_FAILURES.items() if sign in error), None)


# TimescaleDB releases with a known defect this deployment meets: (fixed in, what it breaks)
RELEASE_ISSUES = (
    (
        (2, 21, 0),
        "a logical backup (pg_dump) of a database with compressed chunks cannot be restored "
        "when a compressed column is all NULL (timescale/timescaledb#8153, fixed in 2.21.0): "
        "tsdb-restore --test fails on such backups; upgrade TimescaleDB",
    ),
)


def release_issues(version: str) -> list[str]:
    """What the TimescaleDB release `version` is known to break here."""
    found = release(version)
    return [what for fixed, what in RELEASE_ISSUES if found is not None and found < fixed]
