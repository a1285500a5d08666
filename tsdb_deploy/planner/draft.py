"""The plan under construction: groups set parameters in order, overrides win, ranges hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .inputs import Hardware, PlanError, Workload
from .parameters import ParameterError, lookup


@dataclass(frozen=True)
class Planned:
    name: str
    value: Any  # in the parameter table's terms: bytes, ms, number, bool or str
    text: str  # as written in postgresql.conf and returned by SHOW
    reason: str
    group: str
    overridden: bool = False


class Draft:
    def __init__(self, hardware: Hardware, workload: Workload, overrides: dict[str, Any]):
        self.hardware = hardware
        self.workload = workload
        self.profile = workload.settings
        self.params: dict[str, Planned] = {}
        self._overrides = {}
        for name, raw in (overrides or {}).items():
            try:
                self._overrides[name] = lookup(name).parse(raw)
            except ParameterError as exc:
                raise PlanError(f"inventory override {exc}") from None

    def set(self, group: str, name: str, value: Any, reason: str) -> Any:
        """Record a parameter; an inventory override replaces the computed value."""
        param = lookup(name)
        overridden = name in self._overrides
        if overridden:
            computed = param.render(value)
            value = self._overrides[name]
            reason = f"inventory override (the planner would set {computed}: {reason})"
        else:
            try:
                value = param.parse(param.render(value))
            except ParameterError as exc:  # the planner's own rule went out of range
                raise PlanError(f"planner rule gave an invalid value: {exc}") from None
        self.params[name] = Planned(name, value, param.render(value), reason, group, overridden)
        return value

    def value(self, name: str) -> Any:
        return self.params[name].value

    def is_overridden(self, name: str) -> bool:
        return name in self._overrides

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._overrides)

    def unused_overrides(self) -> list[str]:
        return sorted(set(self._overrides) - set(self.params))
