"""pyinfra's operation order read without source lines is the order it reads with them."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pyinfra.api.util as util

from tsdb_deploy import pyinfra_stack


def nested(depth: int, then):
    return then() if depth == 0 else nested(depth - 1, then)


def test_the_operation_order_is_the_same_without_source_lines(monkeypatch):
    state = SimpleNamespace(current_deploy_filename=__file__, current_op_file_number=7)
    monkeypatch.setattr(util.pyinfra, "is_cli", True)
    monkeypatch.setattr(util, "stack", inspect.stack)
    monkeypatch.setattr(util, "getframeinfo", inspect.getframeinfo)
    orders = []
    for install in (lambda: None, pyinfra_stack.install):
        install()
        orders.append(nested(5, lambda: util.get_operation_order_from_stack(state)))
    assert util.stack is pyinfra_stack.STACK
    with_source, without = orders
    assert with_source == without
    assert with_source[0] == 7 and len(with_source) > 7
