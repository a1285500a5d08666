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
