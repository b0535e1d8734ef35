"""The registry after `import axle.api.kinds`: every DESIGN §3 kind, found every way a user
or a manifest names it."""

from __future__ import annotations

import pytest

from axle.api.kinds import all_kinds
from axle.api.registry import REGISTRY, UnknownKind
from tests.api.manifests import MINIMAL

DESIGN_KINDS = {
    ("", "Namespace"),
    ("", "Secret"),
    ("", "ConfigMap"),
    ("", "Event"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("coordination.k8s.io", "Lease"),
    # Rollout history of AIWorkloads (Kubernetes' own kind for it).
    ("apps", "ControllerRevision"),
    *(
        ("axle.dev", k)
        for k in (
            "Tenant",
            "Project",
            "Settings",
            "VariableSet",
            "Compute",
            "ComputeConfig",
            "ComputePool",
            "ComputePoolEvaluation",
            "ScalingPolicy",
            "ComponentDefinition",
            "TraitDefinition",
            "PolicyDefinition",
            "DefinitionRevision",
            "WorkloadProfile",
            "ProfileBundle",
            "Environment",
            "AIWorkload",
            "WorkloadDeployment",
            "Spoke",
            "Work",
        )
    ),
}


def test_every_design_kind_is_registered_once() -> None:
    registered = [(i.group, i.kind) for i in all_kinds()]
    assert set(registered) == DESIGN_KINDS
    assert len(registered) == len(set(registered))


def test_every_kind_has_a_minimal_manifest_in_the_tests() -> None:
    assert {k for _, k in DESIGN_KINDS} == set(MINIMAL)


def test_all_kinds_is_sorted_and_stable() -> None:
    kinds = all_kinds()
    assert kinds == sorted(kinds, key=lambda i: (i.group, i.kind))
    assert [i.kind for i in all_kinds()] == [i.kind for i in kinds]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("tenant", "Tenant"),
        ("tenants", "Tenant"),
        ("Tenant", "Tenant"),
        ("proj", "Project"),
        ("cp", "ComputePool"),
        ("computepools", "ComputePool"),
        ("computepools.axle.dev", "ComputePool"),
        ("computepools.spectrocloud.com", "ComputePool"),
        ("cp.axle.dev", "ComputePool"),
        ("ns", "Namespace"),
        ("cm", "ConfigMap"),
        ("secrets", "Secret"),
        ("roles.rbac.authorization.k8s.io", "Role"),
        ("clusterrolebindings", "ClusterRoleBinding"),
        ("leases", "Lease"),
        ("aiw", "AIWorkload"),
        ("pb", "ProfileBundle"),
        ("wd", "WorkloadDeployment"),
        ("settings", "Settings"),
        ("works", "Work"),
    ],
)
def test_lookup_by_what_users_type(name: str, kind: str) -> None:
    assert REGISTRY.lookup(name).kind == kind


def test_unknown_names_raise() -> None:
    with pytest.raises(UnknownKind):
        REGISTRY.lookup("widgets")
    with pytest.raises(UnknownKind):
        REGISTRY.lookup("computepools.example.com")


def test_manifest_identities_including_spectrocloud_aliases() -> None:
    assert REGISTRY.by_api_version("axle.dev/v1alpha1", "Tenant").kind == "Tenant"
    assert REGISTRY.by_api_version("spectrocloud.com/v1beta1", "ProfileBundle").group == "axle.dev"
    assert REGISTRY.by_api_version("spectrocloud.com/v1alpha1", "ComputePool").group == "axle.dev"
    assert REGISTRY.by_api_version("v1", "Secret").group == ""
    with pytest.raises(UnknownKind):
        REGISTRY.by_api_version("axle.dev/v9", "Tenant")


def test_resources_by_group_and_plural() -> None:
    assert REGISTRY.by_resource("axle.dev", "computepools").kind == "ComputePool"
    assert REGISTRY.by_resource("", "namespaces").kind == "Namespace"
    assert REGISTRY.by_resource("rbac.authorization.k8s.io", "rolebindings").kind == "RoleBinding"


def test_scopes() -> None:
    cluster = {i.kind for i in all_kinds() if not i.namespaced}
    assert cluster == {"Namespace", "ClusterRole", "ClusterRoleBinding", "Tenant", "Spoke"}


def test_short_names_and_plurals_do_not_collide() -> None:
    seen: dict[tuple[str, str], str] = {}
    for info in all_kinds():
        for name in {info.plural, info.singular, *info.short_names}:
            key = (info.group, name)
            assert key not in seen, f"{name} names both {seen[key]} and {info.kind}"
            seen[key] = info.kind
    short = [s for i in all_kinds() for s in i.short_names]
    assert len(short) == len(set(short))


def test_axle_kinds_are_in_the_axle_category_and_have_columns() -> None:
    for info in all_kinds():
        if info.group == "axle.dev":
            assert "axle" in info.categories
        assert info.columns, info.kind
        assert info.model is not None
    tenant = REGISTRY.lookup("tenant")
    assert [(c.name, c.json_path, c.priority) for c in tenant.columns[:2]] == [
        ("Status", ".status.phase", 0),
        ("Age", ".metadata.creationTimestamp", 0),
    ]
    assert tenant.columns[1].type == "date"
    assert any(c.priority == 1 for c in tenant.columns)
    project = REGISTRY.lookup("project")
    assert [c.name for c in project.columns if c.priority == 0] == ["Tenant", "Status", "Age"]
