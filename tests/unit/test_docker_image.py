"""What a docker-runtime image ships, read before the host gets it: the TimescaleDB release
in a `docker save` archive, and the image contents fact's parser."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from pyinfra.api.exceptions import OperationError

from tsdb_deploy.facts import parse_image_contents
from tsdb_deploy.operations.docker import archive_timescaledb_version

CONTROL = "usr/share/postgresql/17/extension/timescaledb.control"


def layer(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def archive(tmp_path, layers: list[dict[str, str]]):
    """A `docker save` archive (legacy layout) of the given layers, oldest first."""
    path = tmp_path / "image.tar"
    names = [f"{i:064x}/layer.tar" for i in range(len(layers))]
    members = {"manifest.json": json.dumps([{"Config": "c.json", "Layers": names}]).encode()}
    members.update({name: layer(files) for name, files in zip(names, layers, strict=True)})
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def control(version: str) -> str:
    return f"comment = 'x'\ndefault_version = '{version}'\nmodule_pathname = '$libdir/x'\n"


def test_the_newest_layer_with_the_control_file_decides(tmp_path):
    path = archive(tmp_path, [{"etc/os-release": "x", CONTROL: control("2.19.3")},
                              {CONTROL: control("2.29.2")}, {"tmp/x": ""}])  # fmt: skip
    assert archive_timescaledb_version(path) == "2.29.2"


def test_the_official_images_layout_is_read_too(tmp_path):
    path = archive(tmp_path, [{"usr/local/share/postgresql/extension/timescaledb.control":
                               control("2.19.3")}])  # fmt: skip
    assert archive_timescaledb_version(path) == "2.19.3"


def test_an_image_without_timescaledb(tmp_path):
    assert archive_timescaledb_version(archive(tmp_path, [{"etc/x": "y"}])) is None


def test_not_an_archive_is_one_line(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_text("not a tar")
    with pytest.raises(OperationError, match=f"{bad} is not a `docker save` archive"):
        archive_timescaledb_version(str(bad))


def test_image_contents_parser():
    found = parse_image_contents(["timescaledb 2.19.3", "tool pgbackrest"])
    assert (found.timescaledb, found.tools) == ("2.19.3", ("pgbackrest",))
    assert parse_image_contents(["__TSDB_MISSING__"]) is None
    assert parse_image_contents(["tool pgbackrest"]).timescaledb is None
