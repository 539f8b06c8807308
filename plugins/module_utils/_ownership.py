# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""Field ownership: taking over what ``kubectl apply`` (client-side) wrote, and saying who else owns a field.

Pure functions over objects as dicts. The migration is client-go's ``util/csaupgrade.UpgradeManagedFields``
(what ``kubectl apply --server-side`` does once for objects it used to apply client-side): the client-side
manager's field set is merged into the server-side manager's ``Apply`` entry and its own entry dropped, so the next
server-side apply owns, and may remove, everything the old manager wrote. It is sent as a JSON patch whose first
operation tests the resourceVersion read, so a concurrent change makes it fail instead of being overwritten.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.aml.kserve.plugins.module_utils._errors import first_line, kube_status

CSA_MANAGER = "kubectl-client-side-apply"   # the manager ``kubectl apply`` (client-side) records
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# No object has the nil UID: as a precondition it lets a create through (the apiserver assigns the UID) and makes an
# update of an object that appeared since it was read fail ("metadata.uid: field is immutable").
NIL_UID = "00000000-0000-0000-0000-000000000000"
APPLY = "apply"
CREATE = "create"


def _is_entry(entry: Mapping[str, Any], manager: str, operation: str) -> bool:
    return (entry.get("manager") == manager and entry.get("operation") == operation
            and not entry.get("subresource"))


def union_fields(left: Mapping[str, Any], right: Mapping[str, Any]) -> Dict[str, Any]:
    """The union of two FieldsV1 tries (structured-merge-diff's ``Set.Union`` on their JSON form)."""
    merged: Dict[str, Any] = copy.deepcopy(dict(left))
    for key, value in right.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = union_fields(merged[key], value)
        else:
            merged.setdefault(key, copy.deepcopy(value))
    return merged


def needs_migration(obj: Mapping[str, Any], manager: str, csa_manager: str = CSA_MANAGER) -> bool:
    """True when ``csa_manager`` owns fields of ``obj`` and ``manager`` has never applied it."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    if any(_is_entry(e, manager, "Apply") for e in entries):
        return False
    return any(_is_entry(e, csa_manager, "Update") for e in entries)


def upgrade_managed_fields(entries: Sequence[Mapping[str, Any]], manager: str,
                           csa_manager: str = CSA_MANAGER) -> List[Dict[str, Any]]:
    """client-go's csaupgrade.UpgradeManagedFields on a managedFields list; the input is not modified."""
    fields = [copy.deepcopy(dict(e)) for e in entries]
    target = next((i for i, e in enumerate(fields) if _is_entry(e, manager, "Apply")), None)
    if target is None:
        # No Apply entry yet: the most recent client-side entry (the list is newest first) becomes it.
        target = next((i for i, e in enumerate(fields) if _is_entry(e, csa_manager, "Update")), None)
        if target is None:
            return fields
        fields[target]["operation"] = "Apply"
        fields[target]["manager"] = manager
    # Merged: the client-side entry of the same API version (the one converted above is no longer one).
    source = next((e for e in fields if _is_entry(e, csa_manager, "Update")
                   and e.get("apiVersion") == fields[target].get("apiVersion")), None)
    if source is not None:
        fields[target]["fieldsV1"] = union_fields(fields[target].get("fieldsV1") or {}, source.get("fieldsV1") or {})
    return [e for e in fields if not _is_entry(e, csa_manager, "Update")]


def migration_patch(obj: Mapping[str, Any], manager: str, csa_manager: str = CSA_MANAGER) -> List[Dict[str, Any]]:
    """The JSON patch that hands ``csa_manager``'s fields to ``manager`` and drops kubectl's last-applied
    annotation; it fails (test op) if the object changed since it was read. Empty when nothing is to migrate."""
    if not needs_migration(obj, manager, csa_manager):
        return []
    metadata = obj.get("metadata") or {}
    patch: List[Dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": metadata.get("resourceVersion")},
        {"op": "replace", "path": "/metadata/managedFields",
         "value": upgrade_managed_fields(metadata.get("managedFields") or [], manager, csa_manager)},
    ]
    if LAST_APPLIED in (metadata.get("annotations") or {}):
        patch.append({"op": "remove", "path": "/metadata/annotations/" + LAST_APPLIED.replace("~", "~0").replace("/", "~1")})
    return patch


def migrated(obj: Mapping[str, Any], manager: str, csa_manager: str = CSA_MANAGER) -> Dict[str, Any]:
    """``obj`` as the migration patch leaves it (for check mode and --diff)."""
    result = copy.deepcopy(dict(obj))
    metadata = result.setdefault("metadata", {})
    if not needs_migration(obj, manager, csa_manager):
        return result
    metadata["managedFields"] = upgrade_managed_fields(metadata.get("managedFields") or [], manager, csa_manager)
    (metadata.get("annotations") or {}).pop(LAST_APPLIED, None)
    return result


# -- conflicts -----------------------------------------------------------------------------------

_CONFLICT_MANAGER = re.compile(r'conflict with "(?P<manager>[^"]*)"')
_MESSAGE = re.compile(r'"message":\s*"((?:[^"\\]|\\.)*)"')  # a Status's message, when the Status is cut short


def parse_conflicts(status: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(field path, manager) of each FieldManagerConflict in a 409 Status of a server-side apply."""
    causes = (status.get("details") or {}).get("causes") or []
    found = []
    for cause in causes:
        # StatusCause's type is serialized as "reason" (metav1.StatusCause, json:"reason").
        if (cause.get("reason") or cause.get("type")) != "FieldManagerConflict":
            continue
        match = _CONFLICT_MANAGER.search(cause.get("message") or "")
        found.append((cause.get("field") or "", match.group("manager") if match else "another manager"))
    return found


def _split_key(text: str) -> Dict[str, Any]:
    """``name="a",port=80`` (a list item's key in a field path) as a dict."""
    key: Dict[str, Any] = {}
    for part in re.findall(r'([^,=]+)=((?:"(?:[^"\\]|\\.)*")|[^,]*)', text):
        try:
            key[part[0]] = json.loads(part[1])
        except ValueError:
            key[part[0]] = part[1]
    return key


def value_at(obj: Any, path: str) -> Any:
    """The value at a structured-merge-diff field path (``.spec.containers[name="x"].image``) in ``obj``, or
    ``None`` when absent. Map keys may hold dots (annotation names), so each step takes the longest key that
    the rest of the path starts with."""
    rest = path
    node = obj
    while rest:
        if rest.startswith("."):
            rest = rest[1:]
            if not isinstance(node, dict):
                return None
            candidates = [k for k in node if rest == k or rest.startswith(k + ".") or rest.startswith(k + "[")]
            if not candidates:
                return None
            key = max(candidates, key=len)
            node, rest = node[key], rest[len(key):]
        elif rest.startswith("["):
            end = rest.find("]")
            inner, rest = rest[1:end], rest[end + 1:]
            if not isinstance(node, list):
                return None
            if inner.startswith("="):      # a set item: [=value]
                wanted = json.loads(inner[1:])
                node = wanted if wanted in node else None
            elif inner.isdigit():
                node = node[int(inner)] if int(inner) < len(node) else None
            else:
                key = _split_key(inner)
                node = next((i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in key.items())), None)
            if node is None:
                return None
        else:
            return None
    return node


def _shown(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def conflict_lines(status: Mapping[str, Any], existing: Mapping[str, Any], rendered: Mapping[str, Any],
                   force_option: str, ignore_managers: Sequence[str] = ()) -> List[str]:
    """One line per conflicting field: who set it to what, what is rendered instead, and how to take it over."""
    lines = []
    for path, manager in parse_conflicts(status):
        if manager in ignore_managers:
            continue
        lines.append("{0}: set to {1} by {2} (the role renders {3}); set {4}: true to take it over".format(
            path.lstrip("."), _shown(value_at(existing, path)), manager, _shown(value_at(rendered, path)), force_option))
    return lines


def foreign_managers(obj: Mapping[str, Any], manager: str, csa_manager: str = CSA_MANAGER) -> List[str]:
    """Managers other than ``manager`` (and the client-side one about to be migrated) that own a field of the spec,
    labels or annotations: only they can conflict with an apply. Status writes (a subresource) and a controller's
    finalizers cannot, so they cost no dry-run."""
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("subresource") or entry.get("manager") in (manager, csa_manager):
            continue
        fields = entry.get("fieldsV1") or {}
        metadata = fields.get("f:metadata") or {}
        if "f:spec" in fields or "f:labels" in metadata or "f:annotations" in metadata:
            found.append(entry.get("manager") or "(unnamed)")
    return list(dict.fromkeys(found))


def with_uid_precondition(definition: Mapping[str, Any], uid: Optional[str]) -> Dict[str, Any]:
    """``definition`` carrying ``uid``: the apiserver refuses to apply it to another object of the same name
    (deleted and recreated meanwhile) and, through an apply, to create it anew."""
    result = copy.deepcopy(dict(definition))
    if uid:
        result.setdefault("metadata", {})["uid"] = uid
    return result


def new_object(resource: Mapping[str, Any], update_if_exists: bool) -> Tuple[str, Dict[str, Any]]:
    """How to write an InferenceService that did not exist when read, and what: created (the nil UID as its
    precondition: one that appeared meanwhile is not overwritten), or with update_if_exists applied, which creates it
    too. Nothing to migrate and no other manager to conflict with: no request is needed to decide."""
    if update_if_exists:
        return APPLY, copy.deepcopy(dict(resource))
    return CREATE, with_uid_precondition(resource, NIL_UID)


def apply_problem(applied: Mapping[str, Any], namespace: str, name: str, method: str, force_hint: str,
                  update_hint: str) -> str:
    """What went wrong in kubernetes.core.k8s's apply (its result, registered with continue_on_error), in words
    that say what happened to the object and what to do; '' when it went through. The apiserver's raw answer
    stays in the registered result."""
    where = "InferenceService {0}/{1}".format(namespace, name)
    error = applied.get("error")
    if not error:
        if not applied.get("result") and not applied.get("skipped"):
            # kubernetes.core reports a 409 on create (it appeared after its own read) as "unchanged" with a warning.
            return ("{0} was created by someone else while it was being created; nothing was changed. Set {1} to true "
                    "to update it.".format(where, update_hint))
        return ""
    raw = str(error.get("msg") if isinstance(error, Mapping) else error)
    status = kube_status(raw)
    quoted = _MESSAGE.search(raw)
    message = status.get("message") or (quoted.group(1) if quoted else first_line(raw))
    text = message.lower()
    if "uid mismatch" in text:
        return "{0} was deleted since it was read; nothing was applied. Run again to create it.".format(where)
    if "metadata.uid" in text and "immutable" in text:
        if method == "create":
            return ("{0} was created by someone else since it was read, and {1} is false; nothing was changed."
                    .format(where, update_hint))
        return ("{0} was deleted and created again since it was read (it has another uid); nothing was applied. Run "
                "again to update the new one.".format(where))
    conflicts = parse_conflicts(status)
    if conflicts:
        return "{0}: fields set by another field manager would change; nothing was written: {1}. Set {2}: true to take " \
               "them over.".format(where, "; ".join("{0} (set by {1})".format(p.lstrip("."), m) for p, m in conflicts),
                                   force_hint)
    return "Cannot apply {0}: {1}".format(where, message)
