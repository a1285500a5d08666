"""How the event stream is cut over ingest configurations and rotated over rounds."""

import pytest

from lab.bench import ingest


def test_configurations_are_both_methods_for_every_writer_count():
    labels = [c.label for c in ingest.configs(2)]
    assert labels == ["copy x1", "copy x2", "insert x1", "insert x2"]


@pytest.mark.parametrize(("batches", "blocks"), [(4, 1), (7, 1), (16, 4), (200, 4), (201, 4)])
def test_blocks_cover_every_batch_once_dealt_in_turn(batches, blocks):
    order = ingest.configs(2)
    cut = ingest.segments(batches, order, blocks)
    assert [c for c, _, _ in cut] == order * blocks
    covered = [i for _, first, count in cut for i in range(first, first + count)]
    assert covered == list(range(batches))


def test_too_few_batches_is_an_error():
    with pytest.raises(ValueError, match="cannot be split"):
        ingest.segments(15, ingest.configs(2), 4)


def test_rotation_gives_every_configuration_every_position():
    order = ingest.configs(2)
    firsts = {ingest.rotated(order, r)[0].label for r in range(len(order))}
    assert firsts == {c.label for c in order}
