"""Field ownership: client-go's csaupgrade rules, conflict lines, field paths.

managedFields below are shaped as a 1.20 apiserver records them for ``kubectl apply`` (client-side: an Update by
``kubectl-client-side-apply``, the last-applied annotation among its fields) and for the KServe controller's
status writes (an Update of the status subresource, which the migration must leave alone).
"""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.aml.kserve.plugins.module_utils import _ownership

ROLE = "aml-kserve"
API = "serving.kserve.io/v1beta1"
CSA_FIELDS = {
    "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {},
                                     "f:serving.kserve.io/deploymentMode": {}},
                   "f:labels": {".": {}, "f:aml-model-repo": {}}},
    "f:spec": {"f:predictor": {".": {}, "f:model": {".": {}, "f:resources": {".": {}, "f:limits": {
        ".": {}, "f:cpu": {}, "f:nvidia.com/gpualloc": {}}}}}},
}
STATUS_ENTRY = {"manager": "manager", "operation": "Update", "apiVersion": API, "subresource": "status",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {".": {}, "f:url": {}}}}


def csa_object(extra_entries=()):
    entries = list(extra_entries) + [
        {"manager": _ownership.CSA_MANAGER, "operation": "Update", "apiVersion": API, "fieldsType": "FieldsV1",
         "time": "2026-12-01T10:00:00Z", "fieldsV1": copy.deepcopy(CSA_FIELDS)},
        STATUS_ENTRY,
    ]
    return {"apiVersion": API, "kind": "InferenceService",
            "metadata": {"name": "qwen", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
                         "annotations": {_ownership.LAST_APPLIED: "{...}", "serving.kserve.io/deploymentMode": "RawDeployment"},
                         "labels": {"aml-model-repo": "qwen"}, "managedFields": entries},
            "spec": {"predictor": {"model": {"resources": {"limits": {"cpu": "4", "nvidia.com/gpualloc": "1"}}}}}}


def test_csa_entry_becomes_the_role_apply_entry_and_status_entry_stays():
    obj = csa_object()
    upgraded = _ownership.upgrade_managed_fields(obj["metadata"]["managedFields"], ROLE)
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in upgraded] == [
        (ROLE, "Apply", None), ("manager", "Update", "status")]
    assert upgraded[0]["fieldsV1"] == CSA_FIELDS
    assert obj["metadata"]["managedFields"][0]["manager"] == _ownership.CSA_MANAGER  # input untouched


def test_existing_apply_entry_absorbs_the_csa_fields():
    apply_entry = {"manager": ROLE, "operation": "Apply", "apiVersion": API, "fieldsType": "FieldsV1",
                   "fieldsV1": {"f:spec": {"f:predictor": {"f:minReplicas": {}}}}}
    upgraded = _ownership.upgrade_managed_fields(csa_object([apply_entry])["metadata"]["managedFields"], ROLE)
    assert [e["manager"] for e in upgraded] == [ROLE, "manager"]
    fields = upgraded[0]["fieldsV1"]["f:spec"]["f:predictor"]
    assert set(fields) == {".", "f:model", "f:minReplicas"}
    assert fields["f:model"]["f:resources"]["f:limits"] == CSA_FIELDS["f:spec"]["f:predictor"]["f:model"]["f:resources"]["f:limits"]


def test_csa_entry_of_another_api_version_is_dropped_not_merged():
    other = {"manager": _ownership.CSA_MANAGER, "operation": "Update", "apiVersion": "serving.kserve.io/v1alpha1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:old": {}}}}
    upgraded = _ownership.upgrade_managed_fields(csa_object()["metadata"]["managedFields"] + [other], ROLE)
    assert [e["manager"] for e in upgraded] == [ROLE, "manager"]
    assert "f:old" not in upgraded[0]["fieldsV1"]["f:spec"]


def test_nothing_to_migrate_without_a_csa_entry_or_after_the_role_applied():
    plain = csa_object()
    plain["metadata"]["managedFields"] = [STATUS_ENTRY]
    assert _ownership.migration_patch(plain, ROLE) == []
    applied = csa_object([{"manager": ROLE, "operation": "Apply", "apiVersion": API, "fieldsV1": {}}])
    assert _ownership.needs_migration(applied, ROLE) is False
    assert _ownership.migration_patch(applied, ROLE) == []


def test_migration_patch_tests_the_resource_version_and_drops_last_applied():
    obj = csa_object()
    patch = _ownership.migration_patch(obj, ROLE)
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert patch[1]["op"] == "replace" and patch[1]["path"] == "/metadata/managedFields"
    assert [e["manager"] for e in patch[1]["value"]] == [ROLE, "manager"]
    assert patch[2] == {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"}
    after = _ownership.migrated(obj, ROLE)
    assert _ownership.LAST_APPLIED not in after["metadata"]["annotations"]
    assert after["metadata"]["managedFields"] == patch[1]["value"]


def test_union_of_field_tries():
    left = {"f:a": {"f:b": {}}, "f:c": {}}
    right = {"f:a": {"f:d": {}}, "k:{\"name\":\"x\"}": {".": {}}}
    assert _ownership.union_fields(left, right) == {"f:a": {"f:b": {}, "f:d": {}}, "f:c": {}, "k:{\"name\":\"x\"}": {".": {}}}


@pytest.mark.parametrize("path, expected", [
    (".spec.predictor.model.resources.limits.cpu", "4"),
    (".spec.predictor.model.resources.limits.nvidia.com/gpualloc", "1"),
    (".metadata.annotations.serving.kserve.io/deploymentMode", "RawDeployment"),
    (".spec.predictor.model.env[name=\"HF_HOME\"].value", "/cache"),
    (".spec.predictor.model.args[=\"--port=8080\"]", "--port=8080"),
    (".spec.predictor.model.resources.limits.memory", None),
    (".spec.predictor.model.env[name=\"MISSING\"].value", None),
])
def test_value_at_field_paths(path, expected):
    obj = csa_object()
    obj["spec"]["predictor"]["model"]["env"] = [{"name": "HF_HOME", "value": "/cache"}]
    obj["spec"]["predictor"]["model"]["args"] = ["--port=8080"]
    assert _ownership.value_at(obj, path) == expected


def conflict_status(*fields):
    return {"kind": "Status", "code": 409, "reason": "Conflict",
            "message": "Apply failed with {0} conflicts".format(len(fields)),
            # as a 1.20 apiserver answers a conflicting server-side apply (the cause type is serialized as "reason")
            "details": {"causes": [{"reason": "FieldManagerConflict", "field": field,
                                    "message": 'conflict with "{0}" using {1}'.format(manager, API)}
                                   for field, manager in fields]}}


def test_conflict_lines_name_field_manager_values_and_fix():
    existing = csa_object()
    existing["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "7"
    rendered = csa_object()
    status = conflict_status((".spec.predictor.model.resources.limits.cpu", "kubectl-edit"),
                             (".spec.predictor.model.resources.limits.nvidia.com/gpualloc", _ownership.CSA_MANAGER))
    lines = _ownership.conflict_lines(status, existing, rendered, "isvc_force_conflicts",
                                      ignore_managers=[_ownership.CSA_MANAGER])
    assert lines == ["spec.predictor.model.resources.limits.cpu: set to 7 by kubectl-edit (the role renders 4); "
                     "set isvc_force_conflicts: true to take it over"]


def test_conflict_on_a_field_the_role_no_longer_renders():
    status = conflict_status((".spec.predictor.model.resources.limits.nvidia.com/gpualloc", "kubectl-patch"))
    rendered = csa_object()
    del rendered["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpualloc"]
    assert _ownership.conflict_lines(status, csa_object(), rendered, "force_conflicts") == [
        "spec.predictor.model.resources.limits.nvidia.com/gpualloc: set to 1 by kubectl-patch (the role renders "
        "(unset)); set force_conflicts: true to take it over"]


def test_uid_precondition_is_added_only_when_known():
    definition = {"metadata": {"name": "qwen"}}
    assert _ownership.with_uid_precondition(definition, "u-1")["metadata"] == {"name": "qwen", "uid": "u-1"}
    assert _ownership.with_uid_precondition(definition, None) == definition
    assert "uid" not in definition["metadata"]


def test_conflict_cause_in_the_go_field_name_is_understood_too():
    status = {"details": {"causes": [{"type": "FieldManagerConflict", "field": ".spec.x",
                                      "message": 'conflict with "other" using v1'}]}}
    assert _ownership.parse_conflicts(status) == [(".spec.x", "other")]


def test_foreign_managers_skip_status_finalizers_ours_and_the_csa_manager():
    finalizer = {"manager": "manager", "operation": "Update", "apiVersion": API,
                 "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, "v:\"inferenceservice.finalizers\"": {}}}}}
    edit = {"manager": "kubectl-edit", "operation": "Update", "apiVersion": API,
            "fieldsV1": {"f:spec": {"f:predictor": {"f:model": {"f:resources": {"f:limits": {"f:cpu": {}}}}}}}}
    labeler = {"manager": "labeler", "operation": "Apply", "apiVersion": API,
               "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}
    ours = {"manager": ROLE, "operation": "Apply", "apiVersion": API, "fieldsV1": {"f:spec": {}}}
    assert _ownership.foreign_managers(csa_object([finalizer, ours]), ROLE) == []
    assert _ownership.foreign_managers(csa_object([edit, finalizer, labeler, ours]), ROLE) == ["kubectl-edit", "labeler"]


def k8s_error(status):
    """kubernetes.core.k8s's error with continue_on_error: the client's text with the Status as a bytes repr."""
    return {"changed": False, "result": {}, "error": {"msg": "Failed to apply object: {0}".format(json.dumps(status).encode()),
                                                      "reason": status.get("reason")}}


# Status bodies as a 1.20 apiserver answers them (seen on the test apiserver).
UID_IMMUTABLE = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
                 "message": 'InferenceService.serving.kserve.io "qwen" is invalid: metadata.uid: Invalid value: '
                            '"00000000-0000-0000-0000-000000000000": field is immutable'}
UID_MISMATCH = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                "message": 'Operation cannot be fulfilled on inferenceservices.serving.kserve.io "qwen": uid mismatch: '
                           'the provided object specified uid u-1, and no existing object was found'}


@pytest.mark.parametrize("applied, method, expected", [
    ({"changed": True, "result": {"metadata": {"name": "qwen"}}}, "apply", ""),
    ({"changed": False, "result": {}, "skipped": True}, "apply", ""),
    ({"changed": False, "result": {}}, "create",
     "InferenceService team-a/qwen was created by someone else while it was being created; nothing was changed. Set "
     "upd to true to update it."),
    (k8s_error(UID_IMMUTABLE), "create",
     "InferenceService team-a/qwen was created by someone else since it was read, and upd is false; nothing was changed."),
    (k8s_error(UID_IMMUTABLE), "apply",
     "InferenceService team-a/qwen was deleted and created again since it was read (it has another uid); nothing was "
     "applied. Run again to update the new one."),
    (k8s_error(UID_MISMATCH), "apply",
     "InferenceService team-a/qwen was deleted since it was read; nothing was applied. Run again to create it."),
    (k8s_error(conflict_status((".spec.predictor.minReplicas", "hpa"))), "apply",
     "InferenceService team-a/qwen: fields set by another field manager would change; nothing was written: "
     "spec.predictor.minReplicas (set by hpa). Set force: true to take them over."),
    ({"error": {"msg": "Failed to apply object: b'{\"kind\":\"Status\",\"message\":\"admission webhook denied\"}'"}},
     "apply", "Cannot apply InferenceService team-a/qwen: admission webhook denied"),
    # cut short (no whole JSON): the message is still found, never the raw text
    ({"error": {"msg": 'Failed to apply object: b\'{"kind":"Status","message":"quota exceeded","details":{"cau'}},
     "apply", "Cannot apply InferenceService team-a/qwen: quota exceeded"),
])
def test_apply_problem_in_words(applied, method, expected):
    problem = _ownership.apply_problem(applied, "team-a", "qwen", method, "force", "upd")
    assert problem == expected
    assert "{" not in problem


@pytest.mark.parametrize("update_if_exists, method, uid", [(True, "apply", None),
                                                           (False, "create", "00000000-0000-0000-0000-000000000000")])
def test_an_object_that_did_not_exist_is_written_without_a_request(update_if_exists, method, uid):
    resource = {"kind": "InferenceService", "metadata": {"name": "a", "namespace": "ns"}, "spec": {"x": 1}}
    chosen, definition = _ownership.new_object(resource, update_if_exists)
    assert chosen == method
    assert definition["metadata"].get("uid") == uid
    assert dict(definition, metadata={"name": "a", "namespace": "ns"}) == resource
    assert "uid" not in resource["metadata"], "the rendered resource is left as it was"
