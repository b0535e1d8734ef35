"""The pure validators, against Kubernetes' own rules (good and bad values), plus
property-based checks that they agree with the regular expressions that define them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axle.api import validation as v

LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.mark.parametrize("good", ["a", "my-name", "123-abc", "a" * 63])
def test_dns1123_label_accepts(good: str) -> None:
    assert v.dns1123_label(good) == []


@pytest.mark.parametrize("bad", ["", "A", "-a", "a-", "a.b", "a_b", "a" * 64])
def test_dns1123_label_rejects(bad: str) -> None:
    errs = v.dns1123_label(bad, "metadata.name")
    assert errs and all(path == "metadata.name" for path, _ in errs)
    assert errs[0][1].startswith(f'Invalid value: "{bad}": ')


def test_dns1123_label_messages_are_kubernetes() -> None:
    (_, msg), *_ = v.dns1123_label("Foo")
    assert "a lowercase RFC 1123 label must consist of lower case alphanumeric characters" in msg
    assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in msg
    assert any("must be no more than 63 characters" in m for _, m in v.dns1123_label("a" * 64))


@pytest.mark.parametrize("good", ["example.com", "a", "a.b-c.d", ("a" * 63 + ".") * 3 + "a" * 61])
def test_dns1123_subdomain_accepts(good: str) -> None:
    assert v.dns1123_subdomain(good) == []


@pytest.mark.parametrize("bad", ["", "Example.com", ".a", "a.", "a..b", "a_b", "a" * 254])
def test_dns1123_subdomain_rejects(bad: str) -> None:
    assert v.dns1123_subdomain(bad)


@pytest.mark.parametrize(
    "good", ["app", "My.Name", "123-abc", "example.com/MyName", "palette.ai/tenant", "a" * 63]
)
def test_qualified_name_accepts(good: str) -> None:
    assert v.qualified_name(good, "k") == []


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("", "name part must be non-empty"),
        ("/a", "prefix part must be non-empty"),
        ("a/", "name part must be non-empty"),
        ("a/b/c", "a qualified name must consist of"),
        ("-a", "name part must consist of"),
        ("Bad_Prefix/a", "prefix part a lowercase RFC 1123 subdomain"),
        ("a" * 64, "name part must be no more than 63 characters"),
    ],
)
def test_qualified_name_rejects(bad: str, fragment: str) -> None:
    errs = v.qualified_name(bad, "k")
    assert any(fragment in m for _, m in errs), errs


def test_labels_check_keys_and_values() -> None:
    assert v.labels({"app": "web", "palette.ai/tenant": "acme", "empty": ""}) == []
    errs = v.labels({"bad key!": "x", "ok": "bad value!"})
    assert [p for p, _ in errs] == ["metadata.labels", "metadata.labels"]
    assert 'Invalid value: "bad key!"' in errs[0][1]
    assert 'Invalid value: "bad value!"' in errs[1][1]
    assert v.labels({"k": "v" * 64})


def test_annotations_allow_any_value_but_bound_total_size() -> None:
    assert (
        v.annotations({"kubectl.kubernetes.io/last-applied-configuration": "{ anything at all }"})
        == []
    )
    assert v.annotations({"Example.com/UpperCase": "x"}) == []  # keys are checked lower-cased
    assert v.annotations({"bad/key/x": "x"})
    big = {"k": "x" * (256 * 1024)}
    (path, msg), *_ = v.annotations(big)
    assert path == "metadata.annotations" and msg.startswith("Too long")
    assert v.annotations({"k": "x" * (256 * 1024 - 1)}) == []


@pytest.mark.parametrize("good", ["NVIDIA-H100", "NVIDIA-A100", "H100", "amd.mi300x"])
def test_gpu_family_accepts(good: str) -> None:
    assert v.gpu_family(good, "spec.gpuLimits") == []


@pytest.mark.parametrize("bad", ["", "-H100", "H100-", "NVIDIA H100", "a/b", "x" * 64])
def test_gpu_family_rejects(bad: str) -> None:
    assert v.gpu_family(bad, "spec.gpuLimits")


def test_generate_name_allows_a_trailing_dash() -> None:
    assert v.generate_name("web-", v.dns1123_subdomain) == []
    assert v.generate_name("w", v.dns1123_label) == []
    (path, msg), *_ = v.generate_name("Web-", v.dns1123_subdomain)
    assert path == "metadata.generateName"
    assert msg.startswith('Invalid value: "Web-"')


def test_path_segment_names() -> None:
    assert v.path_segment_name("system:controller:tenant") == []
    assert v.path_segment_name("..")
    assert v.path_segment_name("a/b")
    assert v.path_segment_name("a%b")


@pytest.mark.parametrize("good", ["gpu", "abc", "a1-b2", "a" * 33])
def test_compute_pool_name_accepts(good: str) -> None:
    assert v.compute_pool_name(good) == []


@pytest.mark.parametrize("bad", ["ab", "1pool", "pool-", "Pool", "a" * 34, "po_ol"])
def test_compute_pool_name_rejects(bad: str) -> None:
    assert v.compute_pool_name(bad)


def test_config_keys() -> None:
    for good in ("key.name", "KEY_NAME", "key-name", ".dockerconfigjson"):
        assert v.config_key(good, "data") == []
    for bad in (".", "..", "..x", "a/b", "a b", ""):
        assert v.config_key(bad, "data"), bad


def test_base64_values() -> None:
    assert v.base64_value("aGVsbG8=", "data[x]") == []
    assert v.base64_value("", "data[x]") == []
    assert v.base64_value("not base64!", "data[x]")
    assert v.base64_value("abc", "data[x]")  # unpadded
    # The value itself is never echoed back: it is a secret.
    assert "not base64" not in v.base64_value("not base64!", "data[x]")[0][1]


def test_timestamps_durations_digests() -> None:
    assert v.timestamp("2026-01-02T03:04:05Z", "t") == []
    assert v.timestamp("2026-01-02T03:04:05.123456Z", "t") == []
    assert v.timestamp("2026-01-02", "t")
    assert v.timestamp("2026-01-02T03:04:05", "t")  # no zone
    assert v.duration("1h30m", "d") == [] and v.duration("5m", "d") == []
    assert v.duration("5 minutes", "d") and v.duration("", "d")
    assert v.sha256_digest("sha256:" + "0" * 64, "d") == []
    assert v.sha256_digest("sha256:" + "0" * 63, "d")


def test_unique_reports_each_repeat_at_its_index() -> None:
    assert v.unique(["a", "b", "a", "a"], "groups") == [
        ("groups[2]", 'Duplicate value: "a"'),
        ("groups[3]", 'Duplicate value: "a"'),
    ]
    assert v.unique_by([{"name": "x"}, {"name": "x"}], "pools") == [
        ("pools[1].name", 'Duplicate value: "x"')
    ]


def test_helpers_produce_kubernetes_bodies() -> None:
    assert v.invalid("p", -1, "must be >= 0") == ("p", "Invalid value: -1: must be >= 0")
    assert v.required("p") == ("p", "Required value")
    assert v.not_supported("p", "x", ["a", "b"]) == (
        "p",
        'Unsupported value: "x": supported values: "a", "b"',
    )
    assert v.forbidden("p", "no") == ("p", "Forbidden: no")


# --- properties: the validators agree with the regular expressions that define the rules ---

_label_alphabet = st.text(alphabet="abcz09-.A_", max_size=70)


@given(_label_alphabet)
def test_dns1123_label_matches_its_definition(value: str) -> None:
    expected_ok = bool(LABEL_RE.match(value)) and len(value) <= 63
    assert (v.dns1123_label(value) == []) == expected_ok


@given(st.text(alphabet="aZ09-_./ ", max_size=70))
def test_label_value_matches_its_definition(value: str) -> None:
    expected_ok = bool(VALUE_RE.match(value)) and len(value) <= 63
    assert (v.is_label_value(value) == []) == expected_ok


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"))
def test_generated_labels_are_valid_label_keys_and_values(value: str) -> None:
    assert v.dns1123_label(value) == []
    assert v.labels({value: value}) == []
    assert v.labels({f"example.com/{value}": value}) == []


@given(st.text(max_size=80))
def test_validators_never_raise(value: str) -> None:
    for check in (v.dns1123_label, v.dns1123_subdomain, v.path_segment_name, v.compute_pool_name):
        assert isinstance(check(value, "f"), list)
    for fn in (
        v.qualified_name,
        v.gpu_family,
        v.config_key,
        v.base64_value,
        v.timestamp,
        v.duration,
    ):
        assert isinstance(fn(value, "f"), list)
