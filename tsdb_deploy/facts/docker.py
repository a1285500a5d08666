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
