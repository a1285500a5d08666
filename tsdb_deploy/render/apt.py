"""apt's files for upstream repositories: a sources entry per repository, the pin."""

from __future__ import annotations

from ..apt import AptSource, pin_glob
from .text import header


def apt_source_file(source: AptSource) -> str:
    """A sources.list.d entry; the key's URL is recorded so that changing it rewrites the file
    (and so fetches and installs the new key)."""
    return header(f"the {source.name} repository, signed by the key at {source.key_url}") + (
        source.line() + "\n"
    )


def apt_pin_file(packages: list[str], release: str, setting: str) -> str:
    """Hold `packages` at `release`: an `apt upgrade` never moves them behind the deploy's back
    (the extension in each database must be updated with them); priority below 1000, so apt
    never downgrades to reach it either."""
    return header(f"{', '.join(packages)} held at {release} ({setting})") + (
        f"Package: {' '.join(packages)}\nPin: version {pin_glob(release)}\nPin-Priority: 990\n"
    )
