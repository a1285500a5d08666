"""Many facts in one command: over SSH every command is a round trip, and a converged host
should cost a handful of them, not one per question.

The host plan declares what a run will ask (`expect`); the first `read` runs every expected
fact's own command in one shell, each section framed by markers, and hands each section to
that fact's own parser; the database facts ask their questions in one psql session
(facts.session) instead of their own commands' several. Later reads of the same fact and
arguments are answered from that snapshot until an operation changes the host (a pyinfra
callback drops the snapshot), so a read after a change is never stale. A fact not expected
is read on its own, as pyinfra would.
"""

from __future__ import annotations

import json
import secrets

from pyinfra import logger
from pyinfra.api import FactBase, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.state import BaseStateCallback

from . import session
from .postgres import QUERY_FLAGS

_expected: dict[str, list[tuple[type[FactBase], dict]]] = {}
# (host, pyinfra state, stage) -> fact key -> value: a new run or stage reads afresh
_snapshots: dict[tuple[str, int, object], dict[str, object]] = {}


def _key(cls: type[FactBase], kwargs: dict) -> str:
    return f"{cls.__module__}.{cls.__name__}:{json.dumps(kwargs, sort_keys=True, default=str)}"


def _command_text(cls: type[FactBase], kwargs: dict) -> str:
    command = cls().command(**kwargs)
    if isinstance(command, StringCommand):
        command = command.get_raw_value()
    return str(command)


def _session_psql(cls: type[FactBase], kwargs: dict) -> str | None:
    """The psql a fact's questions can share a session on (facts.session), or None."""
    server = kwargs.get("server")
    return server.psql if hasattr(cls, "session") and server is not None else None


class Snapshot(FactBase):
    """The facts `requests` ([(fact class, kwargs)]) in one shell: key -> parsed value. A
    section whose command failed is left out (its fact is then read on its own)."""

    shell_executable = "bash"

    def command(self, requests, marker) -> str:
        parts = []
        sessions: dict[str, list[str]] = {}  # psql command -> the facts' framed input
        for i, (cls, kwargs) in enumerate(requests):
            psql = _session_psql(cls, kwargs)
            if psql is not None:
                sessions.setdefault(psql, []).append(
                    session.frame(marker, i, cls().session(**kwargs))
                )
                continue
            parts.append(
                f"echo {marker}:begin:{i}; ( {_command_text(cls, kwargs)} ) </dev/null; "
                f"echo {marker}:end:{i}:$?"
            )
        for psql, inputs in sessions.items():
            # its failures are the end markers it did not print
            parts.append(
                f"{{ {'; '.join(inputs)}; }} | {psql} {QUERY_FLAGS} -d postgres 2>/dev/null || true"
            )
        return "; ".join(parts)

    def process(self, output):  # the raw sections, split and parsed by `read`
        return list(output)


def split_sections(lines: list[str], marker: str, count: int) -> dict[int, list[str]]:
    """Section i's lines, for each section whose command exited 0."""
    sections: dict[int, list[str]] = {}
    current: int | None = None
    body: list[str] = []
    end = f"{marker}:end:"
    for line in lines:
        if end in line and not line.startswith(end):  # output without a final newline
            head, _, tail = line.partition(end)
            if current is not None:
                body.append(head)
            line = end + tail
        if line.startswith(f"{marker}:begin:"):
            current, body = int(line.rsplit(":", 1)[1]), []
        elif line.startswith(end) and current is not None:
            _, _, index, status = line.split(":")
            if int(index) == current and status == "0" and current < count:
                sections[current] = body
            current = None
        elif current is not None:
            body.append(line)
    return sections


def expect(host_name: str, requests: list[tuple[type[FactBase], dict]]) -> None:
    """What this host's run will read: fetched together at the first read of a stage."""
    _expected[host_name] = list(requests)


def _stage(host):
    return getattr(host.state, "current_stage", None)


def read(host, cls: type[FactBase], **kwargs):
    """The fact as host.get_fact(cls, **kwargs) returns it, from the host's snapshot when
    the run expected it. The first read of an expected fact not yet fetched in this stage
    fetches every such fact, in one command."""
    requests = {_key(c, k): (c, k) for c, k in _expected.get(host.name, [])}
    key = _key(cls, kwargs)
    if key not in requests:
        logger.debug("facts.batch: %s not expected, read on its own", key)
        return _alone(host, cls, kwargs)
    fetched = _snapshots.setdefault((host.name, id(host.state), _stage(host)), {})
    if key not in fetched:
        todo = [(k, r) for k, r in requests.items() if k not in fetched]
        marker = f"TSDB-{secrets.token_hex(6)}"
        lines = host.get_fact(Snapshot, requests=[r for _, r in todo], marker=marker) or []
        sections = split_sections(lines, marker, len(todo))
        for i, (k, (c, _)) in enumerate(todo):
            if i in sections:
                fact = c()
                fetched[k] = fact.process(sections[i]) if sections[i] else fact.default()
            else:
                fetched[k] = _UNREAD
    value = fetched[key]
    if value is _UNREAD:  # its command failed: read on its own, as pyinfra handles failures
        logger.debug("facts.batch: %s failed in the snapshot, read on its own", key)
        return _alone(host, cls, kwargs)
    return value


def _alone(host, cls: type[FactBase], kwargs: dict):
    """host.get_fact, except that a fact whose command failed is an error. pyinfra marks the
    host failed and hands back the fact's default (None: 'not running'; []: 'no migrations
    applied'), and with other hosts left the operation would go on with it."""
    value = host.get_fact(cls, **kwargs)
    if host in getattr(host.state, "failed_hosts", ()):
        raise OperationError(f"could not read {cls.__name__}: its error is above")
    return value


_UNREAD = object()


def forget(host_name: str) -> None:
    for key in [k for k in _snapshots if k[0] == host_name]:
        del _snapshots[key]


class ForgetOnChange(BaseStateCallback):
    """Drops a host's snapshot once an operation has run commands on it: checked as the next
    operation starts (pyinfra completes an operation's record after its success callback)."""

    last: dict[tuple[int, str], str] = {}  # (pyinfra state, host) -> the operation before

    @classmethod
    def operation_host_start(cls, state, host, op_hash):
        previous = cls.last.get((id(state), host.name))
        if previous is not None and previous in state.ops.get(host, {}):
            meta = state.get_op_data_for_host(host, previous).operation_meta
            if not meta.is_complete() or meta.did_change() or not meta.did_succeed():
                forget(host.name)
        cls.last[(id(state), host.name)] = op_hash


def install(state) -> None:
    """Register the callback with pyinfra's state, once."""
    if not any(isinstance(h, ForgetOnChange) for h in state.callback_handlers):
        state.add_callback_handler(ForgetOnChange())
