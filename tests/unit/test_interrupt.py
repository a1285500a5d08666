"""lab.interrupt kills pyinfra right after the Nth operation, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab import interrupt

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = """
from pyinfra.operations import server
for i in range(1, 4):
    server.shell(name=f"step {i}", commands=[f"echo {i} >> {OUT}"])
"""


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    (tmp_path / "deploy.py").write_text(DEPLOY.replace("{OUT}", str(out)))
    cmd = [sys.executable, "-m", "lab.interrupt", *args, "-y", "@local", "deploy.py"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_killed_after_the_nth_operation(tmp_path):
    proc = run(tmp_path, "--after", "2")
    assert proc.returncode == interrupt.KILLED, proc.stderr[-2000:]
    assert "SIGKILL after operation 2" in proc.stderr
    assert (tmp_path / "out").read_text().split() == ["1", "2"]


def test_a_run_shorter_than_the_stop_completes_and_counts(tmp_path):
    proc = run(tmp_path, "--after", "9", "--count")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "operations: 3" in proc.stderr
    assert (tmp_path / "out").read_text().split() == ["1", "2", "3"]
