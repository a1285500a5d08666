"""The deploy's apt commands wait for another apt instead of failing on its lock."""

from __future__ import annotations

import subprocess

from tsdb_deploy.operations.packages import APT_LOCK_WAIT_S, APT_UPDATE

LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)"


def run_update(tmp_path, failures: int, message: str) -> tuple[subprocess.CompletedProcess, int]:
    """APT_UPDATE with an apt-get that fails `failures` times with `message`, and no sleep."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "apt-get").write_text(
        "#!/bin/sh\n"
        f"echo x >> {calls}\n"
        f'[ "$(wc -l < {calls})" -gt {failures} ] && '
        '{ echo "Reading package lists..."; exit 0; }\n'
        f"echo '{message}' >&2; exit 100\n"
    )
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    proc = subprocess.run(["sh", "-c", APT_UPDATE], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})  # fmt: skip
    return proc, len(calls.read_text().split()) if calls.exists() else 0


def test_update_is_tried_again_while_another_process_holds_the_lists(tmp_path):
    proc, calls = run_update(tmp_path, 3, LOCKED)
    assert proc.returncode == 0 and calls == 4
    assert "Reading package lists..." in proc.stdout


def test_update_gives_up_after_the_wait_naming_the_holder(tmp_path):
    proc, calls = run_update(tmp_path, 10_000, LOCKED)
    assert proc.returncode == 1 and calls == APT_LOCK_WAIT_S // 5
    assert "held by process 42" in proc.stderr


def test_any_other_update_failure_fails_at_once(tmp_path):
    proc, calls = run_update(tmp_path, 10_000, "E: The repository is not signed.")
    assert proc.returncode == 1 and calls == 1
    assert "not signed" in proc.stderr
