"""The deploy itself, timed: a fresh converge, a no-change run, no-change runs over 1..8 hosts.

pyinfra runs as an operator runs it (`python -m pyinfra -y --json <inventory> deploy.py` from
the project root, an inventory named sandbox.py so group_data/sandbox.py applies, as
tests/integration/conftest.py does). The commands a run executes are counted from a --debug
run's log: pyinfra's docker connector runs every remote command as a local `docker exec` and
every upload as a `docker cp`, each logged as '--> Running command on localhost: ...'.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import credentials, testhosts
from .host import BenchError

ROOT = Path(__file__).resolve().parents[2]
DISTRO = {"package_source": "distro"}  # Debian's packages: the Apache-only build
_RUNNING = "--> Running command on localhost: "


def deploy(hosts: list[testhosts.TestHost], data: dict, *, debug: bool = False) -> dict:
    """One pyinfra run over `hosts`, each with `data`: wall seconds, pyinfra's totals, the
    commands it ran."""
    credentials.prepare()
    with tempfile.TemporaryDirectory(prefix="tsdb-bench-") as tmp:
        inventory = Path(tmp) / "sandbox.py"
        inventory.write_text(f"native = {[(h.pyinfra_name, data) for h in hosts]!r}\n")
        cmd = [sys.executable, "-m", "pyinfra", "-y", "--json", str(inventory), "deploy.py"]
        began = time.perf_counter()
        proc = subprocess.run(
            cmd + (["--debug"] if debug else []),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise BenchError(f"deploy to {len(hosts)} host(s) failed:\n{proc.stderr[-3000:]}")
    parsed = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    commands = [line.split(_RUNNING, 1)[1] for line in proc.stderr.splitlines() if _RUNNING in line]
    return {
        "hosts": len(hosts),
        "seconds": seconds,
        "totals": (parsed.get("results") or {}).get("totals"),
        "commands": {
            "exec": sum(1 for c in commands if " exec " in c),
            "cp": sum(1 for c in commands if " cp " in c),
        }
        if debug
        else None,
    }


def single_host(host: testhosts.TestHost, data: dict) -> dict:
    """Fresh converge, then a no-change run (timed), then one with --debug (counted)."""
    fresh = deploy([host], data)
    again = deploy([host], data)
    counted = deploy([host], data, debug=True)
    return {"fresh": fresh, "no_change": again, "no_change_debug": counted}


def many_hosts(counts: list[int], memory: str, progress, data: dict) -> dict:
    """Small sandbox hosts: converge max(counts) at once, then a no-change run over each
    count, then one over all with --debug to count commands. The hosts are removed
    afterwards, also on failure."""
    hosts = [
        testhosts.TestHost(f"tsdb-bench-s{i}", memory=memory, cpus=1)
        for i in range(1, max(counts) + 1)
    ]
    try:
        testhosts.start_many(hosts)
        converge = deploy(hosts, data)
        progress(f"deploy: converged {len(hosts)} hosts in {converge['seconds']:.0f}s")
        runs = {}
        for n in counts:
            runs[n] = deploy(hosts[:n], data)
            progress(f"deploy: no-change over {n} hosts: {runs[n]['seconds']:.1f}s")
        counted = deploy(hosts, data, debug=True)
        return {
            "converge_all": converge,
            "no_change": runs,
            "no_change_debug": counted,
            "memory": memory,
        }
    finally:
        for h in hosts:
            testhosts.remove(h.name)
