"""PersistentVolumeClaims: dynamic provisioning by the simulated default StorageClass.

The cluster starts with StorageClass `standard` (the default, provisioner
`sim.axle.dev/local`, binding mode Immediate, reclaim policy Delete); users may apply more.
A claim naming no class (or the default one), or any class that exists, is provisioned at
once: a PersistentVolume `pvc-<claim uid>` of the requested size is created and both are
`Bound`, with the `ProvisioningSucceeded` event. A claim naming a class that does not exist
stays `Pending` with the `ProvisioningFailed` warning Kubernetes gives
(`storageclass.storage.k8s.io "<name>" not found`); one with `storageClassName: ""` waits for
a pre-provisioned volume, as on a real cluster, and says so. `WaitForFirstConsumer` is treated
as Immediate. A volume whose claim is gone is deleted when its reclaim policy is Delete.
"""

from __future__ import annotations

from typing import Any

from axle.sim.cluster.objects import clone
from axle.sim.cluster.runtime import Ctx

Obj = dict[str, Any]
DEFAULT_CLASS = "standard"
PROVISIONER = "sim.axle.dev/local"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PV_CONTROLLER = "persistentvolume-controller"


def default_storage_class() -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def _default_class(ctx: Ctx) -> Obj | None:
    for sc in ctx.store.of_kind("storage.k8s.io", "StorageClass"):
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true":
            return sc
    return None


def _warn_once(ctx: Ctx, pvc: Obj, reason: str, message: str) -> None:
    mark = f"warned:{reason}:{message}"
    if not ctx.store.has_mark(pvc, mark):
        ctx.store.mark(pvc, mark)
        ctx.event(pvc, "Warning", reason, message, PV_CONTROLLER)


def claims(ctx: Ctx) -> None:
    # A new StorageClass may be what a pending claim waits for: then every claim looks.
    if ctx.touches(("storage.k8s.io", "StorageClass")):
        found = ctx.store.of_kind("", "PersistentVolumeClaim")
    else:
        found = ctx.candidates("", "PersistentVolumeClaim")
    for pvc in found:
        status = pvc.get("status") or {}
        if status.get("phase") == "Bound":
            continue
        spec = pvc.get("spec") or {}
        meta = pvc["metadata"]
        if "status" not in pvc:
            new = clone(pvc)
            new["status"] = {"phase": "Pending"}
            ctx.store.write(new)
            pvc = new
        class_name = spec.get("storageClassName")
        if class_name == "":
            _warn_once(
                ctx,
                pvc,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            continue
        if class_name is None:
            sc = _default_class(ctx)
            if sc is None:
                _warn_once(
                    ctx,
                    pvc,
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                )
                continue
        else:
            sc = ctx.store.get(("storage.k8s.io", "StorageClass", "", class_name))
            if sc is None:
                _warn_once(
                    ctx,
                    pvc,
                    "ProvisioningFailed",
                    f'storageclass.storage.k8s.io "{class_name}" not found',
                )
                continue
        sc_name = sc["metadata"]["name"]
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        pv_name = f"pvc-{meta['uid']}"
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": pv_name,
                "annotations": {"pv.kubernetes.io/provisioned-by": str(sc.get("provisioner"))},
                "finalizers": ["kubernetes.io/pv-protection"],
            },
            "spec": {
                "capacity": {"storage": size},
                "accessModes": list(modes),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": sc_name,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {"path": f"/var/lib/sim-volumes/{pv_name}", "type": ""},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta["uid"],
                },
            },
            "status": {"phase": "Bound"},
        }
        ctx.store.write(pv)
        new = clone(pvc)
        new["spec"]["volumeName"] = pv_name
        new["spec"].setdefault("storageClassName", sc_name)
        new["spec"].setdefault("volumeMode", "Filesystem")
        annotations = new["metadata"].setdefault("annotations", {})
        annotations["pv.kubernetes.io/bind-completed"] = "yes"
        annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
        annotations["volume.beta.kubernetes.io/storage-provisioner"] = str(sc.get("provisioner"))
        annotations["volume.kubernetes.io/storage-provisioner"] = str(sc.get("provisioner"))
        new["status"] = {
            "phase": "Bound",
            "accessModes": list(modes),
            "capacity": {"storage": size},
        }
        ctx.store.write(new)
        msg = f"Successfully provisioned volume {pv_name} using {sc.get('provisioner')}"
        ctx.event(new, "Normal", "ProvisioningSucceeded", msg, PV_CONTROLLER)


def release_volumes(ctx: Ctx) -> None:
    """Delete provisioned volumes whose claim is gone (reclaim policy Delete)."""
    if not ctx.touches(("", "PersistentVolumeClaim"), ("", "PersistentVolume")):
        return
    claims_by_uid = {c["metadata"]["uid"] for c in ctx.store.of_kind("", "PersistentVolumeClaim")}
    for pv in ctx.store.of_kind("", "PersistentVolume"):
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        if ref.get("uid") and ref["uid"] not in claims_by_uid:
            if spec.get("persistentVolumeReclaimPolicy", "Delete") == "Delete":
                ctx.store.remove(("", "PersistentVolume", "", pv["metadata"]["name"]))
            elif (pv.get("status") or {}).get("phase") != "Released":
                new = clone(pv)
                new["status"] = {"phase": "Released"}
                ctx.store.write(new)
