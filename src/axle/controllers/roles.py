"""The RBAC rules axle generates: project role templates, tenant-admin rules, system roles.

PaletteAI keeps its project role templates as ConfigMaps (`<prefix>-project-rbac-viewer|
editor|admin`, data key `rules.yaml`, a list of PolicyRules) that are copied into each tenant
namespace, where they become the tenant's to edit (notes section 6). The defaults live here,
written once into `axle-system` by `bootstrap`; the Project reconciler renders Roles from the
tenant copies with `parse_rules`, which checks a template strictly so that a typo becomes a
condition naming the ConfigMap and the offending rule instead of a half-rendered Role.

The rules follow the notes: viewer reads every axle kind of a project; editor has full verbs
on workload and compute kinds and reads Project and Settings; admin also manages Settings,
ComputeConfig, Secrets and may get/patch/update/watch its Project. The tenant-admin rules are
the notes' `prj-<project>-tnt-adm` list.
"""

from __future__ import annotations

from typing import Any

import yaml

from axle.api.meta import GROUP

ROLE_NAMES = ("viewer", "editor", "admin")
TEMPLATE_PREFIX = "axle-project-rbac-"
TEMPLATE_KEY = "rules.yaml"

READ = ["get", "list", "watch"]
CRUD = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]

# The namespaced axle kinds a project holds (plurals).
WORKLOAD_KINDS = [
    "aiworkloads",
    "workloadprofiles",
    "profilebundles",
    "variablesets",
    "environments",
    "workloaddeployments",
    "componentdefinitions",
    "traitdefinitions",
    "policydefinitions",
    "definitionrevisions",
    "repositories",
]
COMPUTE_KINDS = ["computes", "computepools", "scalingpolicies"]
PROJECT_KINDS = ["projects", "settings", "computeconfigs"]
ALL_PROJECT_KINDS = [*WORKLOAD_KINDS, *COMPUTE_KINDS, *PROJECT_KINDS]


def template_name(role: str) -> str:
    return f"{TEMPLATE_PREFIX}{role}"


def rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def default_templates() -> dict[str, list[dict[str, Any]]]:
    """The default PolicyRules of the three project roles, by role name."""
    # AIWorkload rollout history (`axle rollout history|undo`) is kept as ControllerRevisions.
    history = rule(["apps"], ["controllerrevisions"], READ)
    viewer = [
        rule([GROUP], ALL_PROJECT_KINDS, READ),
        rule([""], ["configmaps", "events"], READ),
        history,
    ]
    editor = [
        rule([GROUP], [*WORKLOAD_KINDS, *COMPUTE_KINDS], CRUD),
        rule([GROUP], ["projects", "settings", "computeconfigs"], READ),
        rule([""], ["configmaps"], CRUD),
        rule([""], ["events"], READ),
        history,
    ]
    admin = [
        rule([GROUP], [*WORKLOAD_KINDS, *COMPUTE_KINDS, "settings", "computeconfigs"], CRUD),
        rule([GROUP], ["projects"], ["get", "list", "watch", "patch", "update"]),
        rule([""], ["configmaps", "secrets"], CRUD),
        rule([""], ["events"], READ),
        history,
    ]
    return {"viewer": viewer, "editor": editor, "admin": admin}


def template_data(rules: list[dict[str, Any]]) -> dict[str, str]:
    return {TEMPLATE_KEY: yaml.safe_dump(rules, sort_keys=False)}


def tenant_admin_project_rules() -> list[dict[str, Any]]:
    """`prj-<project>-tnt-adm`: the tenant admins' full rights inside each project."""
    return [
        rule(
            [""],
            [
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "pods",
                "secrets",
                "services",
                "serviceaccounts",
            ],
            CRUD,
        ),
        rule(["apps"], ["*"], CRUD),
        rule(["source.toolkit.fluxcd.io"], ["helmrepositories", "ocirepositories"], CRUD),
        rule(
            [GROUP],
            [*ALL_PROJECT_KINDS, "computepoolevaluations", "workloads"],
            CRUD,
        ),
    ]


def tenant_admin_cluster_rules() -> list[dict[str, Any]]:
    """ClusterRole `axle-tenant-admin`: create-only on the kinds a tenant admin makes."""
    return [
        rule([GROUP], ["projects", "settings", "computeconfigs"], ["create"]),
        rule([""], ["secrets"], ["create"]),
    ]


def tenant_viewer_rules() -> list[dict[str, Any]]:
    """The tenant admins' read-only Role in the tenant namespace (integrations and Secrets)."""
    return [
        rule([""], ["configmaps", "secrets", "events"], READ),
        rule([GROUP], ["settings", "computeconfigs"], READ),
    ]


def system_viewer_rules() -> list[dict[str, Any]]:
    """ClusterRole `axle-system-viewer`: read shared definitions kept in axle-system."""
    return [
        rule(
            [GROUP],
            [
                "componentdefinitions",
                "traitdefinitions",
                "policydefinitions",
                "definitionrevisions",
                "workloadprofiles",
                "profilebundles",
                "variablesets",
            ],
            READ,
        ),
        rule([""], ["configmaps"], READ),
    ]


class InvalidTemplate(ValueError):
    """A role template that is not a list of valid PolicyRules."""


_STR_LIST_FIELDS = ("apiGroups", "resources", "verbs", "resourceNames")


def parse_rules(text: str) -> list[dict[str, Any]]:
    """Parse and check a `rules.yaml` for a namespaced Role; raise `InvalidTemplate` if bad."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidTemplate(f"not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, list) or not data:
        raise InvalidTemplate("must be a non-empty list of PolicyRules")
    rules: list[dict[str, Any]] = []
    for i, item in enumerate(data):
        where = f"rule {i}"
        if not isinstance(item, dict):
            raise InvalidTemplate(f"{where}: must be a mapping")
        unknown = sorted(set(item) - {*_STR_LIST_FIELDS, "nonResourceURLs"})
        if unknown:
            raise InvalidTemplate(f"{where}: unknown field(s) {', '.join(unknown)}")
        if "nonResourceURLs" in item:
            raise InvalidTemplate(f"{where}: nonResourceURLs are not allowed in a Role")
        for field in _STR_LIST_FIELDS:
            value = item.get(field)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidTemplate(f"{where}: {field} must be a list of strings")
        if not item.get("verbs"):
            raise InvalidTemplate(f"{where}: verbs must be a non-empty list")
        if not item.get("resources"):
            raise InvalidTemplate(f"{where}: resources must be a non-empty list")
        if "apiGroups" not in item:
            raise InvalidTemplate(f'{where}: apiGroups is required ("" is the core group)')
        rules.append({k: list(item[k]) for k in _STR_LIST_FIELDS if k in item})
    return rules


def group_subjects(groups: list[str]) -> list[dict[str, str]]:
    return [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g} for g in groups]
