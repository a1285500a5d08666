"""apt repositories and package versions as plain values (no I/O).

An upstream repository is declared by its URL, suite and signing key's URL; where its key and
sources entry live on a host follows from its name. Versions: Timescale's packages carry the
upstream release and a distribution suffix (`2.19.3~debian13-1701`), so a pin on a release is
a pin on `<release>~*`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import formats

KEYRING_DIR = "/etc/apt/keyrings"
SOURCES_DIR = "/etc/apt/sources.list.d"
PREFERENCES_DIR = "/etc/apt/preferences.d"
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class AptSource:
    name: str  # names its keyring and sources file
    url: str
    suite: str
    key_url: str
    component: str = "main"

    @property
    def keyring(self) -> str:
        return f"{KEYRING_DIR}/{self.name}.asc"

    @property
    def list_path(self) -> str:
        return f"{SOURCES_DIR}/{self.name}.list"

    def line(self, keyring: str | None = None) -> str:
        return formats.apt_source_line(
            options={"signed-by": keyring or self.keyring},
            uri=self.url,
            suite=self.suite,
            components=[self.component],
        )


def release(version: str) -> tuple[int, int, int] | None:
    """(2, 19, 3) from '2.19.3', '2.19.3~debian13-1701' or '2.19.3-1'; None if not a release."""
    match = _RELEASE.match(version)
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def is_release(package_version: str, wanted: str) -> bool:
    """Whether a package version is the build of release `wanted` ('2.19.3~debian13-1701')."""
    return package_version == wanted or package_version.startswith(f"{wanted}~")


def pin_glob(wanted: str) -> str:
    return f"{wanted}~*"


class AptError(ValueError):
    """The repositories cannot give what the inventory asks for; one line says why."""


@dataclass(frozen=True)
class Pending:
    """What an upstream install still has to do on a host (empty: converged)."""

    files: tuple[str, ...]  # sources entries and pin whose content differs
    keyrings: tuple[str, ...]  # signing keys not on the host
    packages: tuple[str, ...]  # not installed
    off_release: tuple[str, ...]  # pinned packages installed at another release

    def __bool__(self) -> bool:
        return bool(self.files or self.keyrings or self.packages or self.off_release)


def pending(
    installed: dict[str, list[str]],
    file_sha256: dict[str, str | None],
    wanted_sha256: dict[str, str],
    sources: list[AptSource],
    packages: list[str],
    pinned: dict[str, str],
) -> Pending:
    return Pending(
        files=tuple(p for p, sha in wanted_sha256.items() if file_sha256.get(p) != sha),
        keyrings=tuple(s.keyring for s in sources if file_sha256.get(s.keyring) is None),
        packages=tuple(n for n in dict.fromkeys([*packages, *pinned]) if n not in installed),
        off_release=tuple(
            name
            for name, wanted in pinned.items()
            if name in installed and not any(is_release(v, wanted) for v in installed[name])
        ),
    )


def check_no_downgrade(installed: dict[str, list[str]], pinned: dict[str, str], setting: str):
    for name, wanted in pinned.items():
        for have in installed.get(name, []):
            if (release(have) or (0,)) > (release(wanted) or (0,)):
                raise AptError(
                    f"{setting} {wanted} is older than the installed {name} {have}: "
                    "downgrades are refused (the databases' extension cannot go back)"
                )


def choose_versions(
    errors: tuple[str, ...], available: dict[str, tuple[str, ...]], pinned: dict[str, str],
    setting: str,
) -> dict[str, str]:  # fmt: skip
    """The exact package version of each pinned release, from what the repositories offer
    (madison lists the newest build first), or AptError."""
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AptError(f"apt repository check failed: {errors[0]}{more}")
    exact = {}
    for name, wanted in pinned.items():
        offered = [v for v in available.get(name, ()) if is_release(v, wanted)]
        if not offered:
            releases = sorted(
                {".".join(map(str, release(v) or ())) for v in available.get(name, ())}
            )
            raise AptError(
                f"{setting} {wanted}: the repositories have no {name} of that release "
                f"(they have: {', '.join(releases) or 'none'})"
            )
        exact[name] = offered[0]
    return exact
