"""Docker: images and the database container."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

# --- docker --------------------------------------------------------------------------------

MISSING = "__TSDB_MISSING__"


class DockerImageId(FactBase):
    """The local image ID of `ref` (sha256:...), or None when absent or Docker is missing."""

    def command(self, ref: str) -> str:
        return (
            f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)} 2>/dev/null"
            f" || echo {MISSING}"
        )

    def process(self, output):
        value = "\n".join(output).strip()
        return None if not value or value == MISSING else value


@dataclass(frozen=True)
class ContainerState:
    running: bool
    health: str  # healthy | starting | unhealthy | none
    image_id: str
    config_hash: str  # the label compose put on the container
    wanted_hash: str  # what compose computes from the compose file now
    started_at: str


def parse_container(lines: list[str]) -> ContainerState | None:
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    if "running" not in fields:
        return None
    return ContainerState(
        running=fields["running"] == "true",
        health=fields.get("health", "none") or "none",
        image_id=fields.get("image", ""),
        config_hash=fields.get("hash", ""),
        wanted_hash=fields.get("wanted", "").split(" ")[-1],
        started_at=fields.get("started", ""),
    )


class DockerContainer(FactBase):
    """State of a compose service's container, with the config hash compose would give it now.

    None when the container does not exist (or Docker is not installed yet).
    """

    def command(self, container: str, compose: str, service: str) -> str:
        fmt = (
            "running {{.State.Running}}\nhealth {{if .State.Health}}{{.State.Health.Status}}"
            "{{end}}\nimage {{.Image}}\nstarted {{.State.StartedAt}}\nhash "
            '{{index .Config.Labels "com.docker.compose.config-hash"}}'
        )
        return (
            f"docker inspect --format {shlex.quote(fmt)} {shlex.quote(container)} 2>/dev/null &&"
            f' echo "wanted $(docker compose -f {shlex.quote(compose)} config --hash'
            f' {shlex.quote(service)} 2>/dev/null)" || true'
        )

    def process(self, output):
        return parse_container(list(output))


@dataclass(frozen=True)
class ImageContents:
    timescaledb: str | None  # the TimescaleDB version the image ships (its control file)
    tools: tuple[str, ...]  # which of the asked-for programs it has on PATH


def parse_image_contents(lines: list[str]) -> ImageContents | None:
    if not lines or any(line.strip() == MISSING for line in lines):
        return None
    version, tools = None, []
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "timescaledb" and value.strip():
            version = value.strip()
        elif kind == "tool":
            tools.append(value.strip())
    return ImageContents(version, tuple(tools))


class DockerImageContents(FactBase):
    """What an image ships, read in one throwaway container: TimescaleDB's version (from its
    control file, in Debian's or the official images' layout) and which of `tools` are on
    PATH. None while the image is not on the host (nothing is pulled to read it)."""

    def command(self, image: str, tools: list[str]) -> str:
        script = (
            "for f in /usr/share/postgresql/*/extension/timescaledb.control "
            '/usr/local/share/postgresql/extension/timescaledb.control; do [ -f "$f" ] && '
            'sed -n "s/^default_version *= *\'\\(.*\\)\'.*/timescaledb \\1/p" "$f" && break; '
            "done; for t in " + " ".join(map(shlex.quote, tools)) + "; do "
            'command -v "$t" >/dev/null && echo "tool $t"; done; true'
        )
        ref = shlex.quote(image)
        return (
            f"docker image inspect {ref} >/dev/null 2>&1 || {{ echo {MISSING}; exit 0; }}; "
            f"docker run --rm --pull=never --entrypoint sh {ref} -c {shlex.quote(script)}"
        )

    def process(self, output):
        return parse_image_contents(list(output))


@dataclass(frozen=True)
class Ids:
    """The postgres user's uid and gid in the image and on the host (None where absent)."""

    image: tuple[int, int] | None
    host: tuple[int, int] | None
    in_docker_group: bool
    # the host's user holding the image's uid and group holding its gid ('' where none)
    holders: tuple[str, str] = ("", "")


def parse_ids(lines: list[str]) -> Ids:
    fields = {line.split(" ", 1)[0]: line.split()[1:] for line in lines if line.strip()}

    def pair(key):
        values = fields.get(key, [])
        return (int(values[0]), int(values[1])) if len(values) >= 2 else None

    holders = (fields.get("holders", []) + ["-", "-"])[:2]
    return Ids(
        image=pair("image"),
        host=pair("host"),
        in_docker_group="docker" in fields.get("groups", []),
        holders=tuple("" if h == "-" else h for h in holders),
    )


class PostgresIds(FactBase):
    """The image's postgres ids (from a throwaway container, if the image is present) and the
    host user's."""

    def command(self, image: str) -> str:
        q = shlex.quote(image)
        return (
            f"if docker image inspect {q} >/dev/null 2>&1; then "
            f"set -- $(docker run --rm --entrypoint sh {q} -c "
            "'echo $(id -u postgres) $(id -g postgres)'); echo image $1 $2; "
            'echo holders "$(getent passwd "$1" | cut -d: -f1 | grep . || echo -)" '
            '"$(getent group "$2" | cut -d: -f1 | grep . || echo -)"; fi; '
            "if id postgres >/dev/null 2>&1; then echo host $(id -u postgres) $(id -g postgres);"
            " echo groups $(id -nG postgres); fi; true"
        )

    @staticmethod
    def default():  # no output: no image, no host user (a fresh host, or --dry before docker)
        return parse_ids([])

    def process(self, output):
        return parse_ids(output)
