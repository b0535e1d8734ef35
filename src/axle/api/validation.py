"""Pure field validators with Kubernetes' own rules and messages.

Each validator takes a value and the field path it came from and returns a list of
`(field path, message)` pairs, empty when the value is fine. The message is already the body
Kubernetes prints after the path (`Invalid value: "Foo": a lowercase RFC 1123 label must ...`),
so admission turns it into a `Status` cause without knowing which rule failed; the prefix
(`Invalid value`, `Required value`, `Unsupported value`, `Duplicate value`, `Forbidden`,
`Too long`) tells it the cause's reason. The regular expressions and wording are those of
k8s.io/apimachinery/pkg/util/validation, so kubectl users see familiar errors.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

FieldError = tuple[str, str]
# A name rule: (value, field path) -> errors. Used for metadata.name (and generateName, after
# masking its trailing dash as Kubernetes does).
NameRule = Callable[[str, str], list[FieldError]]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
ANNOTATIONS_TOTAL_MAX = 256 * 1024
CONFIG_KEY_MAX = 253

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_GPU_FAMILY_FMT = "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"

_DNS1123_LABEL_RE = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}$")
_GPU_FAMILY_RE = re.compile(f"^{_GPU_FAMILY_FMT}$")
# PaletteAI's pool name rule: 3-33 characters, a lowercase letter first, alphanumeric last.
_POOL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}[a-z0-9]$")
# Go's time.ParseDuration format, as the ScalingPolicy durations are written ("5m", "1h30m").
_DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

# The bodies Kubernetes' field.Error prints; admission maps the prefix back to a reason.
REASON_PREFIXES: tuple[tuple[str, str], ...] = (
    ("Required value", "FieldValueRequired"),
    ("Invalid value", "FieldValueInvalid"),
    ("Unsupported value", "FieldValueNotSupported"),
    ("Duplicate value", "FieldValueDuplicate"),
    ("Forbidden", "FieldValueForbidden"),
    ("Too long", "FieldValueTooLong"),
    ("Too many", "FieldValueTooMany"),
)


def format_value(value: Any) -> str:
    """A value as Kubernetes prints it in an error: strings quoted, numbers bare."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return (path, f"Invalid value: {format_value(value)}: {detail}")


def required(path: str, detail: str = "") -> FieldError:
    return (path, f"Required value: {detail}" if detail else "Required value")


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    values = ", ".join(json.dumps(s) for s in supported)
    return (path, f"Unsupported value: {format_value(value)}: supported values: {values}")


def duplicate(path: str, value: Any) -> FieldError:
    return (path, f"Duplicate value: {format_value(value)}")


def forbidden(path: str, detail: str) -> FieldError:
    return (path, f"Forbidden: {detail}")


def too_long(path: str, limit: int, unit: str = "bytes") -> FieldError:
    return (path, f"Too long: may not be more than {limit} {unit}")


def _regex_error(msg: str, fmt: str, examples: Iterable[str]) -> str:
    ex = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {ex}, regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


# --- string-level checks (Kubernetes' IsXxx functions): value -> list of details ---------


def is_dns1123_label(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.match(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL_FMT,
                ("my-name", "123-abc"),
            )
        )
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                ("example.com",),
            )
        )
    return errs


def is_qualified_name(value: str) -> list[str]:
    """`[prefix/]name`: the rule for label keys, annotation keys and finalizers."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            _regex_error(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                ("MyName", "my.name", "123-abc"),
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len_error(QUALIFIED_NAME_MAX))
    if name and not _QUALIFIED_NAME_RE.match(name):
        errs.append(
            "name part "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                ("MyName", "my.name", "123-abc"),
            )
        )
    return errs


def is_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                ("MyValue", "my_value", "12345"),
            )
        )
    return errs


def is_config_map_key(value: str) -> list[str]:
    """Keys of ConfigMap and Secret data (they become file names when mounted)."""
    errs: list[str] = []
    if len(value) > CONFIG_KEY_MAX:
        errs.append(_max_len_error(CONFIG_KEY_MAX))
    if not _CONFIG_KEY_RE.match(value):
        errs.append(
            _regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                _CONFIG_KEY_FMT,
                ("key.name", "KEY_NAME", "key-name"),
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_path_segment_name(value: str) -> list[str]:
    """RBAC role names: anything usable as one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def is_gpu_family(value: str) -> list[str]:
    """GPU family names such as `NVIDIA-H100`: label-value-like, non-empty, case kept."""
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len_error(LABEL_VALUE_MAX))
    if not _GPU_FAMILY_RE.match(value):
        errs.append(
            _regex_error(
                "a GPU family must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character",
                _GPU_FAMILY_FMT,
                ("NVIDIA-H100", "NVIDIA-A100"),
            )
        )
    return errs


# --- field-level validators: (value, path) -> [(path, message)] --------------------------


def _wrap(path: str, value: Any, details: list[str]) -> list[FieldError]:
    return [invalid(path, value, d) for d in details]


def dns1123_label(value: str, path: str = "metadata.name") -> list[FieldError]:
    return _wrap(path, value, is_dns1123_label(value))


def dns1123_subdomain(value: str, path: str = "metadata.name") -> list[FieldError]:
    return _wrap(path, value, is_dns1123_subdomain(value))


def qualified_name(value: str, path: str) -> list[FieldError]:
    return _wrap(path, value, is_qualified_name(value))


def path_segment_name(value: str, path: str = "metadata.name") -> list[FieldError]:
    return _wrap(path, value, is_path_segment_name(value))


def gpu_family(value: str, path: str) -> list[FieldError]:
    return _wrap(path, value, is_gpu_family(value))


def config_key(value: str, path: str) -> list[FieldError]:
    return _wrap(path, value, is_config_map_key(value))


def max_length_label(limit: int) -> NameRule:
    """A DNS-1123 label no longer than `limit` (e.g. a Tenant, whose namespace adds a prefix)."""

    def rule(value: str, path: str) -> list[FieldError]:
        errs = dns1123_label(value, path)
        if len(value) > limit and not any("no more than" in m for _, m in errs):
            errs.append(invalid(path, value, _max_len_error(limit)))
        return errs

    return rule


def compute_pool_name(value: str, path: str = "metadata.name") -> list[FieldError]:
    if _POOL_NAME_RE.match(value):
        return []
    return [
        invalid(
            path,
            value,
            "must be 3 to 33 characters of lowercase letters, digits or '-', starting with a "
            "letter and ending with a letter or digit (regex used for validation is "
            f"'{_POOL_NAME_RE.pattern[1:-1]}')",
        )
    ]


def generate_name(
    value: str, rule: NameRule, path: str = "metadata.generateName"
) -> list[FieldError]:
    """`generateName` is a name prefix: a trailing '-' is allowed, as Kubernetes masks it."""
    masked = value[:-1] + "a" if len(value) > 1 and value.endswith("-") else value
    return [
        (path, msg.replace(format_value(masked), format_value(value), 1))
        for _, msg in rule(masked, path)
    ]


def labels(value: Mapping[str, str], path: str = "metadata.labels") -> list[FieldError]:
    errs: list[FieldError] = []
    for key in sorted(value):
        errs.extend(qualified_name(key, path))
        errs.extend(_wrap(path, value[key], is_label_value(value[key])))
    return errs


def annotations(value: Mapping[str, str], path: str = "metadata.annotations") -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key in sorted(value):
        # Kubernetes checks annotation keys case-insensitively against the qualified-name rule.
        errs.extend(_wrap(path, key, is_qualified_name(key.lower())))
        total += len(key.encode()) + len(value[key].encode())
    if total > ANNOTATIONS_TOTAL_MAX:
        errs.append((path, f"Too long: must have at most {ANNOTATIONS_TOTAL_MAX} bytes"))
    return errs


def finalizers(value: Iterable[str], path: str = "metadata.finalizers") -> list[FieldError]:
    errs: list[FieldError] = []
    for i, name in enumerate(value):
        errs.extend(qualified_name(name, f"{path}[{i}]"))
    return errs


def unique(values: Iterable[Any], path: str) -> list[FieldError]:
    """Each repeated element of a list, reported at its index."""
    seen: set[str] = set()
    errs: list[FieldError] = []
    for i, v in enumerate(values):
        key = json.dumps(v, sort_keys=True, default=str)
        if key in seen:
            errs.append(duplicate(f"{path}[{i}]", v))
        seen.add(key)
    return errs


def base64_value(value: str, path: str) -> list[FieldError]:
    """A Secret `data` / ConfigMap `binaryData` value: standard, padded base64."""
    if len(value) % 4 == 0 and _BASE64_RE.match(value):
        return []
    return [(path, 'Invalid value: "<secret contents redacted>": illegal base64 data')]


def timestamp(value: str, path: str) -> list[FieldError]:
    """An RFC 3339 time (`2026-01-02T03:04:05Z`, fractional seconds allowed)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value:
        return [invalid(path, value, "must be an RFC 3339 date-time, e.g. 2026-01-02T03:04:05Z")]
    return []


def duration(value: str, path: str) -> list[FieldError]:
    """A Go duration string (`30s`, `5m`, `1h30m`)."""
    if _DURATION_RE.match(value):
        return []
    return [invalid(path, value, "must be a duration such as 30s, 5m or 1h30m")]


def sha256_digest(value: str, path: str) -> list[FieldError]:
    if re.fullmatch(r"sha256:[0-9a-f]{64}", value):
        return []
    return [invalid(path, value, "must be a digest of the form sha256:<64 lowercase hex digits>")]


def unique_by(items: Iterable[Mapping[str, Any]], path: str, key: str = "name") -> list[FieldError]:
    """Each element of a list of objects whose `key` repeats an earlier one's."""
    seen: set[Any] = set()
    errs: list[FieldError] = []
    for i, item in enumerate(items):
        value = item.get(key)
        if value is None:
            continue
        if value in seen:
            errs.append(duplicate(f"{path}[{i}].{key}", value))
        seen.add(value)
    return errs
