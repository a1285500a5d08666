"""tsdb-deploy staging-rebuild SOURCE TARGET: four pyinfra runs, as an operator would type them.

1. check   pyinfra TARGET staging/check.py    production targets refused (inventory only)
2. source  pyinfra SOURCE staging/source.py   the backup picked and copied here
3. target  pyinfra TARGET staging/target.py   refusals (schema, disk), converge, rebuild
4. again   pyinfra TARGET deploy.py           the restored database converged to the plan

The working directory on the deploy machine holds the unmasked copy between runs 2 and 3: it
is private (0700) and removed when the command ends, whatever happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import staging

ROOT = Path(__file__).resolve().parents[1]


WORKDIR_PREFIX = "tsdb-staging-"  # <tmp>/tsdb-staging-<pid>-<random>/


def _remove_stale_workdirs() -> None:
    """Working directories of rebuilds that were killed (their process is gone): they hold
    an unmasked copy of production's data."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name[len(WORKDIR_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _checksum_problem(workdir: Path, pick: staging.Pick) -> str | None:
    """The copy on this machine against the backup's metadata, before the target changes."""
    digest = hashlib.sha256()
    with open(workdir / pick.name, "rb") as archive:
        while chunk := archive.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != pick.meta.get("sha256"):
        return (
            f"{pick.name} from {pick.source_host}: its sha256 is {digest.hexdigest()}, the "
            f"metadata says {pick.meta.get('sha256')}; nothing was changed on the targets"
        )
    return None


class RebuildFailed(RuntimeError):
    """A run that failed; the message is its error line."""


def _error_line(output: str) -> str:
    """What went wrong, in one line: pyinfra's refusal without its prefix; for a failed
    operation, its name and what the host said; else the last line that says error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    operation, said, failed = None, [], None
    for line in lines:
        if line.startswith("--> Starting operation:"):
            operation, said = line.split(":", 1)[1].strip(), []
        elif line.startswith("[") and "] " in line and operation:
            text = line.split("] ", 1)[1]
            if text.startswith("Error: executed"):
                failed = f"{operation}: " + ("; ".join(said) or text)
            elif text not in ("Success", "No changes"):
                said.append(text)
    for line in reversed(lines):
        match = re.match(r"--> pyinfra error(?: in \S+ line \d+)?: (.*)", line)
        if match and not (failed and match.group(1) == "No hosts remaining!"):
            return match.group(1)
    if failed:
        return failed
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no output)"])[-1]


def _pyinfra(inventory: str, deploy_file: str, limit: str | None, env: dict) -> float:
    command = [sys.executable, "-m", "pyinfra", "-y", inventory, deploy_file]
    if limit:
        command[4:4] = ["--limit", limit]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if os.environ.get("TSDB_STAGING_DEBUG"):
        sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RebuildFailed(_error_line(proc.stderr + proc.stdout))
    return time.monotonic() - started


def rebuild(
    source: str,
    target: str,
    *,
    source_host: str | None = None,
    target_host: str | None = None,
    say=print,
) -> list[dict]:
    """Run the three steps; the reports of the rebuilt targets."""
    _remove_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))  # 0700
    env = {**os.environ, "PYTHONPATH": str(ROOT), staging.WORKDIR_ENV: str(workdir)}
    try:
        phases = {"check targets": _pyinfra(target, "staging/check.py", target_host, env)}
        say(f"staging-rebuild: {target} may be rebuilt; picking the backup on {source}")
        phases["pick and copy"] = _pyinfra(source, "staging/source.py", source_host, env)
        pick = staging.Pick.from_json((workdir / staging.PICK_FILE).read_text())
        problem = _checksum_problem(workdir, pick)
        if problem:
            raise RebuildFailed(problem)
        say(f"staging-rebuild: {pick.name} from {pick.source_host}; converging and rebuilding")
        phases["converge and rebuild"] = _pyinfra(target, "staging/target.py", target_host, env)
        # the restored database still has production's schema choices (the events' chunk
        # interval, sized from production's memory; the properties index): deploy.py
        # converges them to the target's own plan, as any later deploy would
        phases["converge the restored database"] = _pyinfra(target, "deploy.py", target_host, env)
        reports = []
        for path in sorted(workdir.glob("report-*.json")):
            report = json.loads(path.read_text())
            host = staging.report_host(path.name)
            for line in staging.report_lines(host, report, phases):
                say(line)
            reports.append({"host": host, **report, "deploy_phases": phases})
        return reports
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(signum, _frame):
    raise RebuildFailed(f"stopped by signal {signum}; the copy on this machine was removed")


def main(args) -> int:
    # SIGTERM and SIGHUP end the run through rebuild()'s cleanup (the unmasked copy goes)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        reports = rebuild(
            args.source,
            args.target,
            source_host=args.source_host,
            target_host=args.target_host,
        )
    except RebuildFailed as exc:
        print(f"tsdb-deploy staging-rebuild: {exc}", file=sys.stderr)
        return 1
    if args.report:
        Path(args.report).write_text(json.dumps(reports, indent=2) + "\n")
    return 0
