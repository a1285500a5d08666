"""Pure parts of the test-host harness: mirror discovery, image tag, docker run args, CLI specs."""

from pathlib import Path

import pytest

from lab import testhosts as th

BOOKWORM_DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_mirror_from_deb822_skips_security_and_disabled_entries():
    text = """\
Types: deb
URIs: http://security.debian.org/debian-security
Suites: trixie-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: trixie
Components: main
Enabled: no

Types: deb-src deb
URIs:
 http://ftp.de.debian.org/debian/
 http://deb.debian.org/debian
Suites: trixie trixie-updates
Components: main contrib
"""
    assert th.find_debian_mirror([("debian.sources", text)]) == "http://ftp.de.debian.org/debian"


def test_mirror_from_real_bookworm_deb822_file():
    sources = [("debian.sources", BOOKWORM_DEB822)]
    assert th.find_debian_mirror(sources) == "http://deb.debian.org/debian"


def test_mirror_from_one_line_format():
    text = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://mirror.example/debian/ bookworm main
deb http://later.example/debian bookworm main
"""
    assert th.find_debian_mirror([("sources.list", text)]) == "https://mirror.example/debian"


def test_mirror_skips_non_debian_and_non_main_sources():
    sources = [
        ("google-cloud-sdk.list", "deb https://packages.cloud.google.com/apt cloud-sdk main\n"),
        ("contrib.list", "deb http://contrib-only.example/debian bookworm contrib\n"),
        ("gce.sources", "Types: deb\nURIs: mirror+file:/etc/apt/mirrors/debian\n"
                        "Suites: bookworm\nComponents: main\n"),
        ("sources.list", "deb http://ftp.example/debian bookworm main\n"),
    ]  # fmt: skip
    assert th.find_debian_mirror(sources) == "http://ftp.example/debian"


def test_mirror_falls_back_to_deb_debian_org():
    assert th.find_debian_mirror([]) == th.DEFAULT_MIRROR
    only_security = [("sources.list", "deb http://deb.debian.org/debian-security trixie main\n")]
    assert th.find_debian_mirror(only_security) == "http://deb.debian.org/debian"


def test_read_apt_sources_reads_list_and_sources_files_in_apt_order(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# empty\n")
    (tmp_path / "sources.list.d" / "b.sources").write_text(BOOKWORM_DEB822)
    (tmp_path / "sources.list.d" / "a.list").write_text("deb http://a.example/debian x main\n")
    (tmp_path / "sources.list.d" / "c.list.disabled").write_text("deb http://c/debian x main\n")
    names = [name for name, _ in th.read_apt_sources(tmp_path)]
    assert names == ["sources.list", "a.list", "b.sources"]
    assert th.find_debian_mirror(th.read_apt_sources(tmp_path)) == "http://a.example/debian"


def test_image_tag_is_stable_and_tracks_the_recipe():
    tag = th.image_tag()
    assert tag == th.image_tag()
    assert tag.startswith(f"tsdb-testhost:{th.BASE_SUITE}-")
    assert len(tag.rsplit("-", 1)[1]) == 8
    assert th.image_tag(packages=reversed(th.BASE_PACKAGES)) == tag
    assert th.image_tag(packages=[*th.BASE_PACKAGES, "vim"]) != tag
    assert th.image_tag(recipe=th.RECIPE_VERSION + 1) != tag
    assert th.image_tag(suite="forky") != tag


def _pairs(args: list[str]) -> set[tuple[str, str]]:
    return set(zip(args, args[1:], strict=False))


def test_docker_run_args_minimal_host():
    host = th.TestHost("tsdb-sandbox-native")
    args = th.docker_run_args(host, "tsdb-testhost:trixie-0123abcd", Path("/cache/apt"))
    assert args[:4] == ["docker", "run", "--detach", "--pull=never"]
    assert args[-2:] == ["tsdb-testhost:trixie-0123abcd", "/lib/systemd/systemd"]
    assert "--privileged" not in args
    assert "--cgroupns=host" in args
    expected = {
        ("--name", "tsdb-sandbox-native"),
        ("--label", "tsdb-deploy.testhost=1"),
        ("--cap-add", "SYS_ADMIN"),
        ("--cap-add", "NET_ADMIN"),
        ("--security-opt", "seccomp=unconfined"),
        ("--security-opt", "apparmor=unconfined"),
        ("--tmpfs", "/run"),
        ("--tmpfs", "/run/lock"),
        ("-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
        ("-v", "/cache/apt:/var/cache/apt/archives"),
        ("-v", "/cache/apt/.locks/tsdb-sandbox-native:/var/cache/apt/archives/lock"),
    }
    assert expected <= _pairs(args)
    assert not {"--memory", "--cpus", "--mount"} & set(args)


def test_docker_run_args_with_limits_and_docker_volume():
    host = th.TestHost("tsdb-big", memory="2g", cpus=1.0, docker_volume=True)
    args = th.docker_run_args(host, "img", Path("/c"))
    assert {
        ("--memory", "2g"),
        ("--cpus", "1"),
        ("--mount", "type=volume,src=tsdb-big-docker,dst=/var/lib/docker"),
    } <= _pairs(args)
    half = th.docker_run_args(th.TestHost("h1", cpus=0.5), "i", Path("/c"))
    assert ("--cpus", "0.5") in _pairs(half)
    assert args.index("img") > args.index("--mount")


def test_test_host_connection_names():
    host = th.TestHost("tsdb-sandbox-native")
    assert host.pyinfra_name == "@docker/tsdb-sandbox-native"
    assert host.testinfra_url == "docker://tsdb-sandbox-native"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tsdb-a", th.TestHost("tsdb-a")),
        ("tsdb-a:2g", th.TestHost("tsdb-a", memory="2g")),
        ("tsdb-a:512m:1.5", th.TestHost("tsdb-a", memory="512m", cpus=1.5)),
        ("tsdb-a::2", th.TestHost("tsdb-a", cpus=2.0)),
    ],
)
def test_parse_host_spec(spec, expected):
    assert th.parse_host_spec(spec) == expected


def test_parse_host_spec_docker_volume():
    assert th.parse_host_spec("h1:1g", docker_volume=True).docker_volume


@pytest.mark.parametrize(
    "spec",
    ["", ":2g", "a:b:c:d", "tsdb-a:2g:many", "tsdb-a:lots", "tsdb-a:1g:0", "bad_name", "x y"],
)
def test_parse_host_spec_rejects_bad_specs(spec):
    with pytest.raises(th.TestHostError):
        th.parse_host_spec(spec)


def test_main_reports_bad_spec_on_one_line(capsys):
    assert th.main(["up", "tsdb-a:1g:zero"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("testhosts: error: bad host spec") and err.count("\n") == 1
