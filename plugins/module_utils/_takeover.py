# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Before a server-side apply of InferenceServices: migrate what ``kubectl apply`` owned, refuse other managers'
fields, and add the preconditions that keep the apply on the object that was read.

Requests are spent only where they can matter: a dry-run apply only when another manager owns spec, labels or
annotations; a JSON patch only for a migration. A service that was read and needs neither costs nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.aml.kserve.plugins.module_utils import _ownership
from ansible_collections.aml.kserve.plugins.module_utils._errors import KubernetesError
from ansible_collections.aml.kserve.plugins.module_utils._k8s import ISVC, KubeClient

Key = Tuple[str, str]


@dataclass
class Outcome:
    name: str
    namespace: str
    method: str = _ownership.APPLY
    definition: Dict[str, Any] = field(default_factory=dict)
    migrated: bool = False
    migrated_from: str = ""
    conflicts: List[str] = field(default_factory=list)
    conflict_status: Dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    msg: str = ""
    diff: Optional[Dict[str, Any]] = None

    def result(self) -> Dict[str, Any]:
        found = asdict(self)
        found.pop("diff")
        return found


def _key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "", metadata.get("name") or ""


def _ownership_view(obj: Mapping[str, Any]) -> Dict[str, Any]:
    """What a migration changes, for --diff: who owns what, and the annotations."""
    metadata = obj.get("metadata") or {}
    return {"metadata": {
        "annotations": dict(metadata.get("annotations") or {}),
        "managedFields": [{k: e.get(k) for k in ("manager", "operation", "subresource", "fieldsV1") if e.get(k)}
                          for e in metadata.get("managedFields") or []],
    }}


def prepare(client: KubeClient, resources: Sequence[Mapping[str, Any]], existing: Sequence[Mapping[str, Any]],
            field_manager: str, force_conflicts: bool, update_if_exists: bool, check_mode: bool,
            force_hint: str) -> List[Outcome]:
    """One outcome per resource, in order; a service's failure is its own (the others go on)."""
    current = {_key(obj): obj for obj in existing}
    outcomes = []
    for resource in resources:
        namespace, name = _key(resource)
        outcome = Outcome(name=name, namespace=namespace)
        try:
            _prepare_one(client, outcome, resource, current.get((namespace, name)), field_manager, force_conflicts,
                         update_if_exists, check_mode, force_hint)
        except KubernetesError as err:
            outcome.failed, outcome.msg = True, err.msg
        outcomes.append(outcome)
    return outcomes


def takeover(client: KubeClient, resources: Sequence[Mapping[str, Any]], existing: Sequence[Mapping[str, Any]],
             field_manager: str, force_conflicts: bool, update_if_exists: bool, check_mode: bool, diff_mode: bool,
             force_hint: str) -> Dict[str, Any]:
    """inference_service_ownership's result: ``services`` (each one's outcome, in order), ``changed`` when a migration
    was written, ``diff`` in diff mode."""
    outcomes = prepare(client, resources, existing, field_manager, force_conflicts, update_if_exists, check_mode,
                       force_hint)
    found: Dict[str, Any] = {"changed": any(o.migrated for o in outcomes), "services": [o.result() for o in outcomes]}
    if diff_mode:
        found["diff"] = [o.diff for o in outcomes if o.diff]
    return found


def _prepare_one(client: KubeClient, outcome: Outcome, resource: Mapping[str, Any], current: Optional[Mapping[str, Any]],
                 field_manager: str, force_conflicts: bool, update_if_exists: bool, check_mode: bool,
                 force_hint: str) -> None:
    where = "InferenceService {0}/{1}".format(outcome.namespace, outcome.name)
    if current is None:
        outcome.method, outcome.definition = _ownership.new_object(resource, update_if_exists)
        return
    uid = (current.get("metadata") or {}).get("uid")
    outcome.definition = _ownership.with_uid_precondition(resource, uid)
    pending = _ownership.needs_migration(current, field_manager)
    if not force_conflicts and _ownership.foreign_managers(current, field_manager):
        status = client.apply_conflicts(ISVC, outcome.definition, field_manager)
        # Before the migration, the client-side manager's fields conflict too; the migration makes them ours.
        ignored = [_ownership.CSA_MANAGER] if pending else []
        lines = _ownership.conflict_lines(status or {}, current, resource, force_hint, ignored)
        if lines:
            outcome.failed, outcome.conflicts, outcome.conflict_status = True, lines, status or {}
            outcome.msg = "{0}: {1} field{2} set by another field manager would change; nothing was written:\n{3}".format(
                where, len(lines), "" if len(lines) == 1 else "s", "\n".join("- " + line for line in lines))
            return
    if pending:
        outcome.migrated, outcome.migrated_from = True, _ownership.CSA_MANAGER
        outcome.diff = {"before": _ownership_view(current),
                        "after": _ownership_view(_ownership.migrated(current, field_manager)),
                        "before_header": where + " (ownership)", "after_header": where + " (ownership)"}
        if not check_mode:
            try:
                client.json_patch(ISVC, outcome.name, outcome.namespace, _ownership.migration_patch(current, field_manager))
            except KubernetesError as err:
                if err.details.get("status") in (409, 422):  # the resourceVersion test failed: changed meanwhile
                    raise KubernetesError("{0} changed since it was read; its ownership was not migrated and nothing was "
                                          "applied. Run again.".format(where), status=err.details.get("status"))
                raise
