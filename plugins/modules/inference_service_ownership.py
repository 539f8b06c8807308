#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: inference_service_ownership
short_description: Prepare a server-side apply of InferenceServices, taking over what kubectl apply wrote
version_added: 0.1.0
description:
  - Runs before a server-side apply of rendered InferenceServices (C(kubernetes.core.k8s) with C(server_side_apply)),
    and returns the definitions to apply.
  - B(Migration.) When an existing InferenceService has fields owned by C(kubectl-client-side-apply), which is what
    C(kubectl apply) records, and none owned by O(field_manager), it hands those fields to O(field_manager) once.
    This is what C(kubectl apply --server-side) does (client-go C(util/csaupgrade)). It also drops the
    C(kubectl.kubernetes.io/last-applied-configuration) annotation. The apply that follows then removes every field
    the old manager wrote that is no longer rendered. The migration is a JSON patch that first tests the
    resourceVersion that was read, so a concurrent change makes it fail instead of being overwritten.
  - B(Other managers.) When another manager (C(kubectl edit), C(kubectl patch), another controller) owns a field that
    the apply would change, the service fails before anything is written. Its message has one line per field, with
    the manager, its value and the rendered value. With O(force_conflicts=true) the rendered values win.
  - B(Preconditions.) A service that existed when read is applied with its C(metadata.uid), so the apply cannot land
    on another object of the same name (deleted and recreated meanwhile). With O(update_if_exists=false), a service
    that did not exist is to be created and must not overwrite one that appeared meanwhile. Its definition then
    carries the nil UID. Apply it with C(apply=false); a create goes through, and an update of an object that
    appeared meanwhile fails.
  - A dry-run apply is sent only when another manager owns spec, label or annotation fields, and a patch only for a
    migration. A service that needs neither costs no request.
author:
  - aml.kserve developers (@aml-kserve)
extends_documentation_fragment:
  - aml.kserve._attributes
  - kubernetes.core.k8s_auth_options
attributes:
  action:
    support: full
    details:
      - Runs on the controller, in the task's own process, with no module process to start. The task's C(environment)
        keyword does not apply; set the C(K8S_AUTH_*) variables in the controller's environment or pass the
        connection options.
  check_mode:
    support: full
    details: Writes nothing; reports the migration it would make (and, with C(--diff), what it would change).
  diff_mode:
    support: full
    details: Shows the annotations and managedFields before and after a migration.
options:
  resources:
    description: The rendered InferenceServices to apply (RV(aml.kserve.inference_service#module:resource)).
    type: list
    elements: dict
    required: true
  existing:
    description:
      - The same InferenceServices as they were read before rendering, for example the C(resource) of each entry of
        RV(aml.kserve.inference_service_info#module:inference_services). A resource with no entry here did not exist.
      - The read is the reference of the preconditions and of the migration's resourceVersion test.
    type: list
    elements: dict
    default: []
  field_manager:
    description: The field manager of the server-side apply that follows.
    type: str
    required: true
  force_conflicts:
    description: Let the apply take over fields that other managers set; no dry-run is made.
    type: bool
    default: false
  update_if_exists:
    description:
      - When false, a resource that did not exist must be created, never applied over an object that appeared
        meanwhile. Its RV(services[].method) is V(create).
    type: bool
    default: true
  force_hint:
    description: How the conflict lines name the option that forces, for example the role's V(isvc_force_conflicts).
    type: str
    default: force_conflicts
  fail_on_problem:
    description:
      - Fail the task when any service has a problem (a conflict, a failed migration).
      - When false, each service's problem is in RV(services) only, for callers that handle each service apart.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Read the InferenceService, if it exists
  aml.kserve.inference_service_info:
    name: qwen-chat
    namespace: team-a
  register: existing

- name: Take over what kubectl apply wrote; refuse other managers' fields
  aml.kserve.inference_service_ownership:
    resources: ["{{ rendered.resource }}"]
    existing: "{{ existing.inference_services | map(attribute='resource') }}"
    field_manager: aml.kserve
  register: ownership

- name: Apply
  kubernetes.core.k8s:
    definition: "{{ (ownership.services | first).definition }}"
    apply: "{{ (ownership.services | first).method == 'apply' }}"
    server_side_apply:
      field_manager: aml.kserve
"""

RETURN = r"""
services:
  description: One entry per resource, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the InferenceService.
      type: str
    namespace:
      description: Its namespace.
      type: str
    method:
      description: V(apply) (server-side apply) or V(create) (create only, with O(update_if_exists=false)).
      type: str
      sample: apply
    definition:
      description: What to apply, with the preconditions (C(metadata.uid)) added.
      type: dict
    migrated:
      description: Whether the ownership of C(kubectl-client-side-apply) was (or, in check mode, would be) migrated.
      type: bool
    migrated_from:
      description: The manager whose fields were migrated.
      type: str
      sample: kubectl-client-side-apply
    conflicts:
      description: One line per field another manager set that the apply would change.
      type: list
      elements: str
      sample:
        - "spec.predictor.model.resources.limits.cpu: set to 7 by kubectl-edit (the role renders 4); set isvc_force_conflicts:
          true to take it over"
    conflict_status:
      description: The apiserver's answer to the dry-run apply, whole (shown with -v).
      type: dict
    failed:
      description: Whether this service has a problem; nothing was written for it.
      type: bool
    msg:
      description: The problem.
      type: str
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

from ansible_collections.aml.kserve.plugins.module_utils import _k8s, _takeover
from ansible_collections.aml.kserve.plugins.module_utils._errors import OwnershipConflict
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec, run_module

SPEC = _k8s.CONNECTION_SPEC.merge(
    ArgumentSpec(
        {
            "resources": {"type": "list", "elements": "dict", "required": True},
            "existing": {"type": "list", "elements": "dict", "default": []},
            "field_manager": {"type": "str", "required": True},
            "force_conflicts": {"type": "bool", "default": False},
            "update_if_exists": {"type": "bool", "default": True},
            "force_hint": {"type": "str", "default": "force_conflicts"},
            "fail_on_problem": {"type": "bool", "default": True},
        }
    )
)


def ownership_result(client, params: dict, check_mode: bool, diff_mode: bool) -> dict:
    result = _takeover.takeover(client, params["resources"], params["existing"], params["field_manager"],
                                params["force_conflicts"], params["update_if_exists"], check_mode, diff_mode,
                                params["force_hint"])
    problems = [s["msg"] for s in result["services"] if s.get("failed")]
    if problems and params["fail_on_problem"]:
        raise OwnershipConflict("\n".join(problems), **result)
    return result


def prepare(module) -> dict:
    return ownership_result(_k8s.KubeClient(module), module.params, module.check_mode, module._diff)


def main() -> None:
    run_module(SPEC.create_module(AnsibleK8SModule), prepare)


if __name__ == "__main__":
    main()
