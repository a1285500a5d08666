"""`python -m lab.bench` arguments: defaults, --tiny, bad input."""

import pytest

from lab.bench import cli


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def fake_run(opts):
        seen["opts"] = opts
        return 0

    monkeypatch.setattr(cli, "run", fake_run)
    return seen


def test_defaults(captured):
    assert cli.main([]) == 0
    opts = captured["opts"]
    assert (opts.events, opts.profiles, opts.writers_max) == (5_000_000, 200_000, None)
    assert opts.host_counts == (1, 4, 8)
    assert opts.cold_method == "restart"


def test_tiny_is_small_and_explicit_options_still_win(captured):
    assert cli.main(["--tiny", "--repeat", "5"]) == 0
    opts = captured["opts"]
    assert opts.events < 10_000 and opts.rounds == 1 and opts.host_counts == (1,)
    assert opts.repeat == 5
    assert opts.cold_method == "evict"


@pytest.mark.parametrize(
    "argv",
    [["--events", "0"], ["--events", "100000001"], ["--repeat", "0"], ["--writers-max", "0"],
     ["--host-counts", "1,x"], ["--host-counts", "0"], ["--cold-method", "drop"]],
)  # fmt: skip
def test_bad_input_exits_with_usage(captured, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert "opts" not in captured
