"""apt repositories as apt itself sees them, read without changing the host's apt state.

`AptRepositoryProbe` fetches each repository's signing key, then runs `apt-get update` on those
repositories alone, in a scratch directory (its own sources list, package lists and cache), so
apt checks the signatures with exactly those keys; then `apt-cache madison` lists what the
repositories offer. The host's /etc/apt and package lists are never touched: an unreachable
mirror, a repository signed with another key or a version it does not carry is found before
any source file or package changes. Returns the keys as fetched, so the deploy installs the
key that verified the repository, not a second download of it.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..apt import AptSource

SEP = "\x1f"


@dataclass(frozen=True)
class RepositoryProbe:
    errors: tuple[str, ...]  # one line each: what apt or the key download reported
    keys: dict[str, str] = field(default_factory=dict)  # name -> the key as fetched
    available: dict[str, tuple[str, ...]] = field(default_factory=dict)  # package -> versions


PROBE_KEYRING = "/TSDB-PROBE-KEYRING"


def probe_script(sources: list[AptSource], packages: list[str]) -> str:
    """The shell script of the probe (bash); each output line is KIND<US>fields."""
    lines = [
        "d=$(mktemp -d /tmp/tsdb-apt-probe.XXXXXX) || exit 1",
        "trap 'rm -rf \"$d\"' EXIT",
        'mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"',
        # the scratch directory is root's: apt runs its downloads as root rather than _apt
        'o=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/parts"'
        ' -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o APT::Sandbox::User=root'
        " -o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)",
        ': > "$d/sources.list"',
    ]
    for source in sources:
        key = f'"$d/{source.name}.asc"'
        line = source.line(keyring=PROBE_KEYRING)  # the scratch directory's, substituted below
        lines += [
            f'if /usr/lib/apt/apt-helper "${{o[@]}}" download-file {shlex.quote(source.key_url)}'
            f' {key} >"$d/key.log" 2>&1; then',
            f"  printf 'K{SEP}%s{SEP}%s\\n' {shlex.quote(source.name)} \"$(base64 -w0 {key})\"",
            f"  l={shlex.quote(line)}",
            f'  echo "${{l/{PROBE_KEYRING.replace("/", chr(92) + "/")}/$d/{source.name}.asc}}"'
            ' >> "$d/sources.list"',
            "else",
            f"  printf 'E{SEP}%s\\n' \"{source.name}: cannot fetch its signing key"
            f' {source.key_url}: $(grep -m1 \'^E:\' "$d/key.log" | cut -c4-)"',
            "fi",
        ]
    lines += [
        '[ -s "$d/sources.list" ] || exit 0',
        # --error-on=any: a source that fails (unreachable, bad signature) fails the update
        'apt-get "${o[@]}" -q --error-on=any update >"$d/update.log" 2>&1 ||'
        f" grep -E '^(E|W): ' \"$d/update.log\" | sed 's/^[EW]: /E{SEP}/'",
        f'apt-cache "${{o[@]}}" madison {" ".join(map(shlex.quote, packages))} 2>/dev/null'
        f' | awk -F\' [|] \' \'{{gsub(/ /, "", $1); gsub(/ /, "", $2);'
        f' print "M{SEP}" $1 "{SEP}" $2}}\'',
    ]
    return "\n".join(lines)


def parse_probe(lines: list[str]) -> RepositoryProbe:
    errors, keys, available = [], {}, {}
    for line in lines:
        kind, _, rest = line.partition(SEP)
        parts = rest.split(SEP)
        if kind == "E" and rest.strip():
            errors.append(rest.strip())
        elif kind == "K" and len(parts) == 2:
            keys[parts[0]] = base64.b64decode(parts[1]).decode(errors="replace")
        elif kind == "M" and len(parts) == 2:
            available.setdefault(parts[0], []).append(parts[1])
    # apt repeats a failure as a summary line ("Some index files failed..."): keep the first
    return RepositoryProbe(
        tuple(dict.fromkeys(errors)), keys, {k: tuple(v) for k, v in available.items()}
    )


class AptRepositoryProbe(FactBase):
    """What `sources` offer of `packages`, checked by apt with their own keys (see above)."""

    shell_executable = "bash"

    def command(self, sources: list[AptSource], packages: list[str]) -> str:
        return probe_script(sources, packages)

    def process(self, output):
        return parse_probe(list(output))
