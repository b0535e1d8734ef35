"""What a render produces, and the catalog type it reads, apart from the render machinery.

`axle.render.pipeline` imports the Jsonnet evaluator (a Go runtime), the Kubernetes schemas
and the validators: tens of MiB and a native runtime that has no business in the hub process,
which never renders itself but receives `RenderResult`s from its worker processes. So the
result type lives here, with nothing heavier than PyYAML behind it, and the pipeline
re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

# kind -> name -> definition (wire shape): the definitions a render may use.
Catalog = Mapping[str, Mapping[str, dict[str, Any]]]


@dataclass(frozen=True)
class RenderResult:
    """The rendered profile: manifests in apply order and what the deploying layer needs.

    `priority_groups` is `[{"priority": p, "components": [...]}, ...]` ascending;
    `outputs` is `{"definitionOutputs": {C: {O: pathRef}}, "objectOutputs": {O: pathRef}}`
    (a trait's outputs appear as `"TRAIT.OUTPUT"` under its component); `policies` maps each
    policy name to its evaluated settings; `notes` lists objects no schema could check.
    """

    name: str
    revision: int
    manifests: list[dict[str, Any]]
    priority_groups: list[dict[str, Any]]
    outputs: dict[str, Any]
    policies: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """The manifests as a multi-document YAML stream (keys sorted: deterministic)."""
        return to_yaml(self.manifests)


def to_yaml(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Manifests as multi-document YAML with sorted keys, so equal inputs give equal bytes."""
    return yaml.safe_dump_all(
        [dict(m) for m in manifests], sort_keys=True, default_flow_style=False, width=1000
    )
