# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_utils is internal to aml.kserve; its API may change without notice.

"""The Kubernetes backend: one client per module run, built from kubernetes.core's connection options
(kubeconfig, context, host, api_key, validate_certs, ca_cert, ..., and the K8S_AUTH_* environment).

Every error of the kubernetes client is turned into a KubernetesError here, naming what was asked
and, for a 403, the permission that is missing.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from ansible_collections.aml.kserve.plugins.module_utils._errors import KubernetesError, first_line
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from kubernetes.client.rest import ApiException
    from kubernetes.config import ConfigException
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from urllib3.exceptions import HTTPError as Urllib3HTTPError

    HAS_KUBERNETES = True
except ImportError:  # AnsibleK8SModule reports the missing library
    HAS_KUBERNETES = False

T = TypeVar("T")

CONNECTION_SPEC = ArgumentSpec(AUTH_ARG_SPEC)

KSERVE_GROUP = "serving.kserve.io"
ISVC = ("InferenceService", "serving.kserve.io/v1beta1")
CLUSTER_SERVING_RUNTIME = ("ClusterServingRuntime", "serving.kserve.io/v1alpha1")
SERVING_RUNTIME = ("ServingRuntime", "serving.kserve.io/v1alpha1")
DEPLOYMENT = ("Deployment", "apps/v1")
POD = ("Pod", "v1")
EVENT = ("Event", "v1")
NAMESPACE = ("Namespace", "v1")
CONFIG_MAP = ("ConfigMap", "v1")
SECRET = ("Secret", "v1")
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"


def _status_body(err: Any) -> Dict[str, Any]:
    body = getattr(err, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        status = json.loads(body) if isinstance(body, str) else {}
    except ValueError:
        status = {}
    return status if isinstance(status, dict) else {}


def _raise(err: BaseException) -> None:
    """For ``KubeClient.call``: report an error caught outside it with the same words."""
    raise err


def _status_message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and body:
        try:
            return first_line(json.loads(body).get("message") or body, 500)
        except ValueError:
            return first_line(body, 500)
    return first_line(str(getattr(err, "reason", "") or err), 500)


class KubeClient:
    """kubernetes.core's client (its discovery cache included), with our error handling around every call."""

    def __init__(self, module: Any = None, params: Optional[Dict[str, Any]] = None) -> None:
        """From a module (kubernetes.core's AnsibleK8SModule), or from validated params (an action plugin)."""
        if not HAS_KUBERNETES:  # a module fails before (AnsibleK8SModule); an action on the controller fails here
            raise KubernetesError("The kubernetes Python library is needed on the controller: pip install kubernetes")
        auth = {k: v for k, v in (params or {}).items() if k in CONNECTION_SPEC.argument_spec and v is not None}
        try:
            self.k8s = get_api_client(module=module, **auth) if module is not None else get_api_client(**auth)
        except CoreException as err:
            raise KubernetesError("Cannot configure the Kubernetes client: {0}; set kubeconfig/context or the "
                                  "K8S_AUTH_* environment".format(first_line(str(err))))
        except ConfigException as err:
            raise KubernetesError("Cannot configure the Kubernetes client: {0}".format(first_line(str(err))))
        except Urllib3HTTPError as err:
            raise KubernetesError("Cannot reach the Kubernetes API ({0}); check the host in the kubeconfig or "
                                  "K8S_AUTH_HOST, and its TLS settings".format(first_line(str(err))))
        self._resources: Dict[Tuple[str, str], Any] = {}

    @property
    def api_client(self) -> Any:
        return self.k8s.client.client

    def keep_connections(self, count: int) -> None:
        """Let the client keep ``count`` connections to the apiserver, for that many watches at once: beyond its
        pool (five per CPU) urllib3 warns about, and drops, each connection handed back. Call it before threads use
        the client: the pools made so far are closed, so the next request makes one of the new size."""
        pool_manager = self.api_client.rest_client.pool_manager
        if pool_manager.connection_pool_kw.get("maxsize", 1) < count:
            pool_manager.connection_pool_kw["maxsize"] = count
            pool_manager.clear()

    def resource(self, kind: str, api_version: str) -> Any:
        key = (kind, api_version)
        if key not in self._resources:
            try:
                self._resources[key] = self.call("discovering " + kind, self.k8s.resource, kind, api_version)
            except ResourceNotFoundError:
                hint = " (are KServe's CRDs installed?)" if api_version.startswith(KSERVE_GROUP) else ""
                raise KubernetesError("The cluster does not serve {0} {1}{2}".format(api_version, kind, hint))
        return self._resources[key]

    def call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except (DynamicApiError, ApiException) as err:
            status = getattr(err, "status", None)
            message = _status_message(err)
            if status == 403:
                error = KubernetesError(
                    "Forbidden while {0}: {1}. Grant that permission to the identity Ansible uses (the aml.kserve.rbac "
                    "role sets up what the deploy role needs)".format(what, message), status=403, reason="Forbidden")
            elif status == 401:
                error = KubernetesError("The Kubernetes API rejected the credentials while {0}: {1}; check the token or "
                                        "kubeconfig".format(what, message), status=401, reason="Unauthorized")
            else:
                error = KubernetesError("Kubernetes API error while {0}: {1} {2}".format(what, status, message),
                                        status=status, reason=getattr(err, "reason", None))
            error.api_message = message  # the apiserver's own words, for a caller that words the error its own way
            raise error
        except Urllib3HTTPError as err:
            raise KubernetesError("Cannot reach the Kubernetes API while {0}: {1}".format(what, first_line(str(err))))

    def get(self, kind_version: Tuple[str, str], name: str, namespace: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """The object as a dict, or None when it does not exist."""
        resource = self.resource(*kind_version)
        what = "reading {0} {1}".format(kind_version[0], "/".join(filter(None, (namespace, name))))
        try:
            return self.call(what, resource.get, name=name, namespace=namespace).to_dict()
        except KubernetesError as err:
            if err.details.get("status") == 404:
                return None
            raise

    def json_patch(self, kind_version: Tuple[str, str], name: str, namespace: Optional[str],
                   patch: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Apply an RFC 6902 JSON patch (its ``test`` operations are preconditions); the object after it."""
        resource = self.resource(*kind_version)
        what = "patching {0} {1}".format(kind_version[0], "/".join(filter(None, (namespace, name))))
        return self.call(what, resource.patch, body=patch, name=name, namespace=namespace,
                         content_type="application/json-patch+json").to_dict()

    def merge_patch(self, kind_version: Tuple[str, str], name: str, namespace: Optional[str],
                    patch: Dict[str, Any]) -> Dict[str, Any]:
        """Apply an RFC 7386 merge patch (what ``kubectl label`` sends); the object after it."""
        resource = self.resource(*kind_version)
        what = "patching {0} {1}".format(kind_version[0], "/".join(filter(None, (namespace, name))))
        return self.call(what, resource.patch, body=patch, name=name, namespace=namespace,
                         content_type="application/merge-patch+json").to_dict()

    def apply_conflicts(self, kind_version: Tuple[str, str], definition: Dict[str, Any],
                        field_manager: str) -> Optional[Dict[str, Any]]:
        """Server-side apply ``definition`` as a dry run, without force: the 409 Status when fields of other managers
        would change, None when the apply would go through. Nothing is written."""
        resource = self.resource(*kind_version)
        metadata = definition.get("metadata") or {}
        what = "checking field ownership of {0} {1}/{2}".format(kind_version[0], metadata.get("namespace"), metadata.get("name"))
        try:
            resource.server_side_apply(body=definition, namespace=metadata.get("namespace"), field_manager=field_manager,
                                       force_conflicts=False, dry_run="All")
        except DynamicApiError as err:
            if getattr(err, "status", None) == 409:
                return _status_body(err)
            self.call(what, _raise, err)
        except Urllib3HTTPError as err:
            self.call(what, _raise, err)
        return None

    def pod_security_level(self, namespace: str) -> Optional[str]:
        """The namespace's enforced Pod Security level ('' when unset); None when the Namespace cannot be read."""
        try:
            found = self.get(NAMESPACE, namespace)
        except KubernetesError:
            return None
        if found is None:
            return None
        return ((found.get("metadata") or {}).get("labels") or {}).get(POD_SECURITY_LABEL, "")

    def list(self, kind_version: Tuple[str, str], namespace: Optional[str] = None, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> Dict[str, Any]:
        """The list as a dict (``items`` and ``metadata.resourceVersion``)."""
        resource = self.resource(*kind_version)
        what = "listing {0}{1}{2}".format(kind_version[0], " in " + namespace if namespace else "",
                                          " with " + label_selector if label_selector else "")
        return self.call(what, resource.get, namespace=namespace, label_selector=label_selector,
                         field_selector=field_selector).to_dict()

    def watch(self, kind_version: Tuple[str, str], namespace: Optional[str], resource_version: Optional[str],
              timeout: int, field_selector: Optional[str] = None, label_selector: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """Raw watch events (``type``, ``object`` as a dict); ends after ``timeout`` seconds of the server's."""
        resource = self.resource(*kind_version)
        stream = self.call(
            "watching " + kind_version[0], resource.watch, namespace=namespace, resource_version=resource_version,
            timeout=timeout, field_selector=field_selector, label_selector=label_selector)
        for event in stream:
            obj = event.get("raw_object") or {}
            yield {"type": event.get("type"), "object": obj}


def items(listing: Dict[str, Any]) -> List[Dict[str, Any]]:
    return listing.get("items") or []
