"""The default project role templates."""

from __future__ import annotations

from axle.controllers.roles import default_templates


def test_every_project_role_reads_rollout_history() -> None:
    # `axle rollout history|undo` reads the AIWorkload's ControllerRevisions (group apps).
    for role, rules in default_templates().items():
        assert any(
            "apps" in r["apiGroups"]
            and "controllerrevisions" in r["resources"]
            and {"get", "list", "watch"} <= set(r["verbs"])
            for r in rules
        ), role


def test_viewers_only_read() -> None:
    for r in default_templates()["viewer"]:
        assert set(r["verbs"]) <= {"get", "list", "watch"}, r
