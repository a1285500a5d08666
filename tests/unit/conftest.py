"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from lab import tls as lab_tls


@pytest.fixture
def lab_ca(tmp_path, monkeypatch):
    """The lab CA in a scratch directory instead of .sandbox/tls."""
    monkeypatch.setattr(lab_tls, "DIR", tmp_path)
    monkeypatch.setattr(lab_tls, "CA_CERT", tmp_path / "ca.crt")
    monkeypatch.setattr(lab_tls, "CA_KEY", tmp_path / "ca.key")
    return tmp_path
