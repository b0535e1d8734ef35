"""Label selectors and node affinity, as the API server and the scheduler evaluate them.

`parse_selector` reads the string form clients send in `?labelSelector=` (`a=b,c!=d,e in (x,y),
!f, g`) into requirements; `match_label_selector` evaluates the structured form of workload
specs (`matchLabels` + `matchExpressions`); `node_matches` is the scheduler's NodeAffinity
filter (the pod's `nodeSelector` AND any term of its required node affinity).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from axle.errors import BadRequest

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^)]*)\)$")
_EQ = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*({_VALUE})$")
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # In, NotIn, Exists, DoesNotExist (as in matchExpressions)
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "Exists":
            return self.key in labels
        if self.op == "DoesNotExist":
            return self.key not in labels
        if self.op == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.op == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        raise BadRequest(f"{self.op!r} is not a valid label selector operator")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside a value set's parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(text: str | None) -> list[Requirement]:
    """The requirements of a string label selector; all must hold. Bad syntax: 400."""
    reqs: list[Requirement] = []
    for part in _split(text or ""):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), "In" if m.group(2) == "in" else "NotIn", values))
        elif m := _EQ.match(part):
            op = "NotIn" if m.group(2) == "!=" else "In"
            reqs.append(Requirement(m.group(1), op, (m.group(3),)))
        elif m := _EXISTS.match(part):
            reqs.append(Requirement(m.group(2), "DoesNotExist" if m.group(1) else "Exists"))
        else:
            raise BadRequest(f"unable to parse requirement: {part!r} in label selector {text!r}")
    return reqs


def matches(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(r.matches(labels or {}) for r in reqs)


def match_label_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A structured `LabelSelector`; an empty selector matches everything (as in workloads)."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        req = Requirement(
            str(expr.get("key")), str(expr.get("operator")), tuple(expr.get("values") or ())
        )
        if not req.matches(labels):
            return False
    return True


def _node_expr(expr: Mapping[str, Any], value: str | None) -> bool:
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            have, want = int(value or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """One `NodeSelectorTerm`: all its expressions and fields hold (an empty term: none)."""
    exprs = list(term.get("matchExpressions") or [])
    fields = list(term.get("matchFields") or [])
    if not exprs and not fields:
        return False
    labels = node.get("metadata", {}).get("labels") or {}
    if not all(_node_expr(e, labels.get(str(e.get("key")))) for e in exprs):
        return False
    name = node.get("metadata", {}).get("name")
    return all(_node_expr(f, name if f.get("key") == "metadata.name" else None) for f in fields)


def node_matches(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """The scheduler's NodeAffinity filter: `nodeSelector` and required node affinity."""
    spec = pod.get("spec") or {}
    labels = node.get("metadata", {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(node_term_matches(t, node) for t in terms)
