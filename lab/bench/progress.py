"""A one-line progress display on stderr for the long phases."""

from __future__ import annotations

import sys
import time


class Progress:
    """`[phase 3/40 1m12s] what` rewritten in place; a newline when the phase ends."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.began = time.monotonic()
        self.phase, self.total, self.done = "", 0, 0

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._show("")

    def step(self, what: str) -> None:
        self.done += 1
        self._show(what)

    def note(self, what: str) -> None:
        self._show(what)

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()

    def _show(self, what: str) -> None:
        elapsed = int(time.monotonic() - self.began)
        width = 20
        filled = width * self.done // self.total if self.total else 0
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"\r[{self.phase} {bar} {self.done}/{self.total} {elapsed // 60}m{elapsed % 60:02d}s]"
            f" {what}"
        )
        self.stream.write(line[:160].ljust(160))
        self.stream.flush()
