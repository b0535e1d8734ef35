"""Artifact URLs: registries, layout directories, tags and digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from axle.oci import InvalidReference, LayoutRef, RegistryRef, parse_ref
from axle.oci.refs import check_tag

D = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oci://127.0.0.1:5000/team-a/llm", RegistryRef("127.0.0.1:5000", "team-a/llm")),
        ("oci://reg.example.com/a/b/c:v1", RegistryRef("reg.example.com", "a/b/c", "v1")),
        (f"oci://localhost:5000/x@{D}", RegistryRef("localhost:5000", "x", None, D)),
        (f"oci://[::1]:5000/x:t@{D}", RegistryRef("[::1]:5000", "x", "t", D)),
        ("oci://ghcr.io/org/my_repo__x.y", RegistryRef("ghcr.io", "org/my_repo__x.y")),
        ("file:///var/lib/axle/oci", LayoutRef(Path("/var/lib/axle/oci"))),
        ("file://localhost/var/oci:c1", LayoutRef(Path("/var/oci"), "c1")),
        ("file:///a%20b/oci", LayoutRef(Path("/a b/oci"))),
        ("file:///host:1/store:tag", LayoutRef(Path("/host:1/store"), "tag")),
        (f"oci-layout:///abs/store@{D}", LayoutRef(Path("/abs/store"), None, D)),
    ],
)
def test_parses(url: str, expected: RegistryRef | LayoutRef) -> None:
    assert parse_ref(url) == expected


def test_relative_layout_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_ref("oci-layout://store:v2") == LayoutRef(tmp_path / "store", "v2")


def test_str_round_trips() -> None:
    for url in ("oci://h:1/a/b:t", f"oci://h/a@{D}", "file:///x/y:t"):
        assert str(parse_ref(url)) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:5000/x", "expected oci://"),
        ("https://h/x", "scheme 'https'"),
        ("oci://h", "oci://HOST"),
        ("oci://h/UPPER", "must be lowercase"),
        ("oci://h/a//b", "must be lowercase"),
        ("oci://bad host/a", "oci://HOST"),
        ("oci://h/a@sha256:abc", "invalid digest"),
        ("oci://h/a@md5:" + "0" * 32, "invalid digest"),
        ("oci://h/a:-bad", "invalid tag"),
        ("file://remote/x", "three slashes"),
        ("oci-layout://", "no layout path"),
    ],
)
def test_rejects(url: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_ref(url)


def test_check_tag() -> None:
    assert check_tag("c1.llm_a-2") == "c1.llm_a-2"
    for bad in ("", ".x", "a" * 129, "a/b", "a:b"):
        with pytest.raises(InvalidReference):
            check_tag(bad)
