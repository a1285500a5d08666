"""The lab's inputs and naming: vendored archives verified before any build, the version scheme
of Timescale's repository, and what the mirror tells a host's inventory."""

from __future__ import annotations

import shutil

import pytest

from lab import cache, packages, vendor
from lab.mirror import Mirror
from tsdb_deploy.settings import resolve


@pytest.fixture
def vendor_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(vendor.ENV, str(tmp_path))
    return tmp_path


def test_every_pinned_release_is_found_and_verified():
    for version in vendor.RELEASES:
        assert vendor.archive(version).name == f"timescaledb-{version}.tar.gz"


def test_a_missing_archive_names_where_it_was_looked_for(vendor_dir):
    with pytest.raises(vendor.VendorError) as missing:
        vendor.archive("2.19.3")
    assert str(missing.value) == (
        f"timescaledb-2.19.3.tar.gz not found in {vendor_dir}: set TSDB_VENDOR_DIR to the "
        "folder holding it"
    )


def test_a_corrupt_archive_is_refused_with_both_checksums(vendor_dir):
    source = next(d for d in vendor.SEARCH if (d / "timescaledb-2.19.3.tar.gz").is_file())
    copy = vendor_dir / "timescaledb-2.19.3.tar.gz"
    shutil.copy(source / copy.name, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(vendor.VendorError) as corrupt:
        vendor.archive("2.19.3")
    message = str(corrupt.value)
    assert message.startswith(f"{copy} has sha256 ")
    assert f"not the pinned {vendor.RELEASES['2.19.3']}" in message
    assert "\n" not in message


def test_an_unknown_release_is_refused():
    with pytest.raises(vendor.VendorError, match="TimescaleDB 2.99.0 is not vendored"):
        vendor.archive("2.99.0")


def test_packages_carry_timescales_version_scheme():
    assert packages.deb_version("2.19.3") == "2.19.3~debian13-1701"
    assert packages.TIMESCALE_PACKAGES == (
        "timescaledb-2-postgresql-17",
        "timescaledb-2-loader-postgresql-17",
    )


def test_cache_keys_change_with_any_input():
    assert cache.key("a", 1) == cache.key("a", 1)
    assert cache.key("a", 1) != cache.key("a", 2)
    assert len(cache.key("a")) == 12


def test_the_mirror_points_the_upstream_install_at_itself():
    mirror = Mirror("http://172.17.0.9:8080")
    data = mirror.inventory_data("2.29.2")
    assert data == {
        "package_source": "upstream",
        "timescaledb_version": "2.29.2",
        "timescale_apt_url": "http://172.17.0.9:8080/timescale",
        "pgdg_apt_url": "http://172.17.0.9:8080/pgdg",
        "pgdg_key_url": "http://172.17.0.9:8080/pgdg/signing-key.asc",
    }
    # the settings table takes it as an operator's own mirror
    base = {"runtime": "native", "database": "klaviyo_analytics", "app_user": "klaviyo",
            "tls_cert_file": "c", "tls_key_file": "k"}  # fmt: skip
    settings = resolve({**base, **data})
    assert settings["timescale_key_url"] is None  # Timescale's place: <url>/gpgkey
