"""What the lab builds once per machine: directories named by a hash of their inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import testhosts


def root() -> Path:
    """Beside the test hosts' apt cache: packages, signing keys, the mirror, image archives."""
    return testhosts.cache_dir().parent / "lab"


def key(*inputs) -> str:
    """A short hash of everything an output is made from."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_dir(path: Path, build: Callable[[Path], None], mode: int = 0o755) -> Path:
    """`path`, built once by build(empty_dir) and renamed into place only when complete, so an
    interrupted build leaves nothing that looks finished. Serialized across processes."""
    if path.is_dir():
        return path
    with testhosts.machine_lock("lab-build"):
        if path.is_dir():  # another process built it while we waited
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            build(partial)
            partial.chmod(mode)
            partial.rename(path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return path
