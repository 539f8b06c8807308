#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: inference_service_info
short_description: Get KServe InferenceServices with a status summary, and wait for one to be ready
version_added: 0.1.0
description:
  - Gets InferenceServices by name or label selector in a namespace, each with a status summary (ready, URLs,
    conditions, model status, deployment mode, the rollout numbers of its predictor Deployments, and the predictor
    container as its Deployment runs it).
  - With O(wait=true) it waits for the InferenceService O(name), or for all those in O(names) or O(services), by
    WATCHING it, its predictor Deployments and their Pods, so it returns within moments of the change. Every
    predictor Deployment must have rolled out as C(kubectl rollout status) judges, and KServe must report Ready.
  - KServe's C(status.observedGeneration) is the predictor Deployment's or Knative Service's counter, not the
    InferenceService's (kserve/kserve#6081), so it does not prove that KServe saw an update. Give O(baseline) (the
    RV(inference_services[].baseline) of a read before the apply) and the wait accepts Ready only once KServe has pushed
    the change to the predictor's children (a Deployment's generation moved, or a new Knative revision) and they rolled
    out; a change that KServe pushes nowhere ends after O(settle_seconds). When the apply changed nothing, the current
    state is the answer. Without a baseline it cannot tell a Ready left over from before an update.
  - It fails at once when a failure is certain. That is a model that failed to load (C(BlockedByFailedLoad),
    C(InvalidSpec), C(FailedToLoad)), pods that cannot be created (C(ReplicaFailure)/C(FailedCreate), such as Pod
    Security refusing C(hostIPC), with the fix), or a predictor container in C(CrashLoopBackOff), C(ImagePullBackOff)
    or C(ErrImagePull). The failure carries the reason, KServe's C(lastFailureInfo) and the recent Warning events.
  - A Deployment past its progress deadline (C(ProgressDeadlineExceeded); KServe's default is 600 s and a long model
    download passes it, then recovers) and a pod that cannot be scheduled (C(Unschedulable), with the scheduler's
    message) are stalls; the wait says so in its progress lines and goes on until O(wait_timeout). A failure at the
    timeout carries the last state of every signal (RV(signals)) and the newest Warning events.
  - A service annotated C(serving.kserve.io/stop=true) (KServe 0.15+) is reported at once with state V(stopped).
  - Watches that expire (410 Gone) or lose their connection list again and resume.
  - Reading Pods and Events is best effort; without RBAC for them the wait still works.
author:
  - aml.kserve developers (@aml-kserve)
extends_documentation_fragment:
  - aml.kserve._attributes
  - kubernetes.core.k8s_auth_options
attributes:
  action:
    support: full
    details:
      - Runs on the controller, in the task's own process, so progress lines show while it waits and no module
        process has to start. The task's C(environment) keyword does not apply; set the C(K8S_AUTH_*) variables in
        the controller's environment (AWX credentials do) or pass the connection options.
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
options:
  name:
    description: Name of the InferenceService. With O(wait=true), this or O(names) is required.
    type: str
  names:
    description:
      - Names of InferenceServices of O(namespace) to get, or to wait for together with O(wait=true).
      - They share one watch per kind, so waiting for many costs the requests of waiting for one. The task fails if
        any of them is not ready, after all of them have an outcome; RV(inference_services) has each one's.
    type: list
    elements: str
  namespace:
    description: Namespace to look in; required unless O(services) is given.
    type: str
  services:
    description:
      - InferenceServices of several namespaces to get, or to wait for with O(wait=true), instead of O(namespace)
        with O(name) or O(names).
      - Each namespace is read with one list per kind. With O(wait=true) the namespaces are waited on at the same
        time (up to 32 judged at once; a namespace that has to wait for a free slot starts its O(wait_timeout) when
        its own wait starts), so a batch that spans many namespaces waits about as long as its slowest namespace.
      - With O(wait=true) and services in two namespaces or more, one list and one watch per kind (InferenceServices,
        and the Deployments and Pods labelled with the services' names) cover the whole cluster, if the identity may
        list them across namespaces (a ClusterRole). If it may not (a Role per namespace), each namespace is listed
        and watched on its own, with one watch per kind for its services.
      - A namespace that cannot be watched (RBAC, a lost connection) fails its own services with state V(failed) and
        reason V(read); the other namespaces are waited on as usual. The task fails if any service is not ready,
        once all of them have an outcome.
      - O(wait_timeout), O(settle_seconds), O(trust_observed_generation), O(ready_when) and O(fail_when) apply to
        every one of them.
    type: list
    elements: dict
    suboptions:
      namespace:
        description: Its namespace.
        type: str
        required: true
      name:
        description: Its name.
        type: str
        required: true
      baseline:
        description: As O(baseline), for this service.
        type: dict
  label_selector:
    description: Label selector, such as V(aml-model-repo=qwen2-7b), when neither O(name) nor O(names) is given.
    type: str
  wait:
    description: Wait until the InferenceService named O(name) (or each of O(names)) is ready and rolled out, or fails.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait before failing with the last status.
    type: int
    default: 1800
  baseline:
    description:
      - What the service's predictor children were before the apply, as RV(inference_services[].baseline) of a read
        without O(wait) returned it; for O(name).
      - The wait compares the service and its children after the apply with it, see the description.
    type: dict
  baselines:
    description:
      - O(baseline) of each of O(names), by name; a name without one is judged without a baseline.
    type: dict
  settle_seconds:
    description:
      - After a change, how long the wait lets KServe go without touching the predictor's children before it takes
        the current state as the answer (a spec change KServe does not push, such as C(maxReplicas) under an HPA, or a
        label KServe does not copy).
    type: float
    default: 20
  trust_observed_generation:
    description:
      - Treat C(status.observedGeneration) as the InferenceService's own generation, as a KServe with pull request kserve/kserve#6096 writes
        it. Released KServe (0.14-0.20) copies a child's counter, so leave it false there.
    type: bool
    default: false
  ready_when:
    description:
      - A JMESPath expression that must also hold before the service counts as ready, for runtimes whose readiness
        KServe does not express. It is evaluated on a document whose key C(isvc) holds the InferenceService and C(deployments)
        the list of its predictor Deployments; false, null and empty values do not hold.
      - A malformed expression fails the task before any request.
    type: str
  fail_when:
    description:
      - A JMESPath expression, evaluated like O(ready_when), that fails the wait at once when it holds.
    type: str
  pod_security:
    description:
      - Also return the Pod Security level the namespace enforces (its C(pod-security.kubernetes.io/enforce) label), which
        decides whether pods with C(hostIPC) may run there.
      - Best effort, needs get on the Namespace; RV(pod_security_level) is null when it cannot be read.
    type: bool
    default: false
  return_resource:
    description:
      - Return each InferenceService's whole object as RV(inference_services[].resource).
      - The role turns it off for its batch wait, which needs only the summaries (a thousand objects are megabytes
        that Ansible copies several times).
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0
notes:
  - Progress lines are shown while it waits (on the controller's output, also in AWX) and returned in RV(progress).
seealso:
  - module: aml.kserve.inference_service
"""

EXAMPLES = r"""
- name: Wait for a service to be ready and rolled out
  aml.kserve.inference_service_info:
    name: qwen2-chat
    namespace: team-a
    wait: true
    wait_timeout: 900
  register: isvc

- name: Show the endpoints
  ansible.builtin.debug:
    msg: "{{ isvc.inference_service.url }} / {{ isvc.inference_service.in_cluster_endpoint }}"

- name: Wait for a wave of services of one namespace with one watch per kind
  aml.kserve.inference_service_info:
    names: [chat-a, chat-b, chat-c]
    namespace: team-a
    wait: true
  register: wave
  ignore_errors: true

- name: Wait for services of several namespaces, the namespaces at the same time
  aml.kserve.inference_service_info:
    services:
      - {namespace: team-a, name: chat-a}
      - {namespace: team-b, name: chat-b}
    wait: true
    wait_timeout: 900

- name: Read before the apply, to prove afterwards that KServe rolled the change out
  aml.kserve.inference_service_info:
    name: qwen2-chat
    namespace: team-a
  register: before

- name: Wait, judged against what was there before, with an extra readiness rule
  aml.kserve.inference_service_info:
    name: qwen2-chat
    namespace: team-a
    wait: true
    baseline: "{{ before.inference_service.baseline | default({'exists': false}) }}"
    ready_when: "isvc.metadata.annotations.\"example.com/warmed-up\" == 'true'"

- name: All services of one model
  aml.kserve.inference_service_info:
    namespace: team-a
    label_selector: aml-model-repo=qwen2-7b
"""

RETURN = r"""
inference_services:
  description: A summary of each InferenceService found.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Its name.
      type: str
    namespace:
      description: Its namespace.
      type: str
    ready:
      description: Ready for its current generation and every predictor Deployment rolled out.
      type: bool
    state:
      description: V(ready), V(progressing), V(stopped) or V(failed); after a wait for O(names) or O(services),
        V(failed) or V(timeout) for those that are not ready.
      type: str
    message:
      description: Why it is in that state.
      type: str
    url:
      description: C(status.url), the endpoint outside the cluster.
      type: str
    in_cluster_endpoint:
      description: C(status.address.url), or the predictor's service address.
      type: str
    generation:
      description: C(metadata.generation).
      type: int
    observed_generation:
      description: C(status.observedGeneration).
      type: int
    deployment_mode:
      description: The C(serving.kserve.io/deploymentMode) annotation, else C(status.deploymentMode), in KServe's
        words (V(RawDeployment) or V(Standard), V(Serverless) or V(Knative)).
      type: str
    raw_deployment:
      description: Whether that mode is RawDeployment/Standard (in either vocabulary).
      type: bool
    baseline:
      description: The record of the service and its predictor children to pass as O(baseline) to a wait after an apply.
      type: dict
    change:
      description: After a wait with a baseline, what the apply changed, V(spec), V(metadata), V(unchanged),
        V(created) (or V(unknown) without a baseline).
      type: str
      returned: with O(wait=true)
    conditions:
      description: C(status.conditions).
      type: list
      elements: dict
    model_status:
      description: C(status.modelStatus).
      type: dict
    deployments:
      description: The predictor Deployments with their rollout numbers.
      type: list
      elements: dict
    predictor_container:
      description:
        - The predictor container KServe runs, read from the pod template of the predictor Deployment of the current
          spec (of the latest created revision, in Serverless mode). KServe builds it by merging the runtime's
          container with the InferenceService's, and it appends the InferenceService's C(args) to the runtime's.
          So this shows what the model server is really started with, for example an argument passed twice.
        - Empty when there is no predictor Deployment yet.
      type: dict
      contains:
        deployment:
          description: The Deployment it was read from.
          type: str
        name:
          description: The container's name, C(kserve-container).
          type: str
        image:
          description: Its image.
          type: str
        command:
          description: Its C(command).
          type: list
          elements: str
        args:
          description: Its C(args), the runtime's first.
          type: list
          elements: str
        env:
          description:
            - The name of each environment variable, with its C(valueFrom) when it has one.
            - Plain values are left out, since a runtime may hold a credential in one.
          type: list
          elements: dict
      sample:
        deployment: qwen2-chat-predictor
        name: kserve-container
        image: vllm/vllm-openai:v0.8.5
        command: [python3, -m, vllm.entrypoints.openai.api_server]
        args: [--port=8080, --served-model-name=qwen2-chat]
        env: [{name: HF_HOME}]
    resource:
      description: The whole object.
      type: dict
      returned: unless O(return_resource=false)
inference_service:
  description: The summary of the InferenceService named O(name) (after the wait, with O(wait=true)).
  returned: when O(name) is given and it exists
  type: dict
progress:
  description: Progress lines written while waiting, each prefixed with the seconds elapsed (also when the wait fails).
  returned: with O(wait=true)
  type: list
  elements: str
  sample: ["0.0s PredictorReady is False: Deploying", "2.1s Ready and rolled out"]
signals:
  description: On a timeout, the last state of every signal the wait reads (conditions, generations, the change and how
    it was pushed, each Deployment and Pod).
  returned: on a timeout of O(name)
  type: dict
pod_security_level:
  description: The namespace's C(pod-security.kubernetes.io/enforce) label; empty when unset, null when not readable.
  returned: with O(pod_security=true)
  type: str
  sample: baseline
waited:
  description: Seconds spent waiting.
  returned: with O(wait=true)
  type: float
  sample: 2.13
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

from ansible_collections.aml.kserve.plugins.module_utils import _k8s
from ansible_collections.aml.kserve.plugins.module_utils._module import ArgumentSpec, run_module
from ansible_collections.aml.kserve.plugins.module_utils._service_info import services_result

SPEC = _k8s.CONNECTION_SPEC.merge(
    ArgumentSpec(
        {
            "name": {"type": "str"},
            "names": {"type": "list", "elements": "str"},
            "namespace": {"type": "str"},
            "services": {"type": "list", "elements": "dict", "options": {
                "namespace": {"type": "str", "required": True},
                "name": {"type": "str", "required": True},
                "baseline": {"type": "dict"},
            }},
            "label_selector": {"type": "str"},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 1800},
            "pod_security": {"type": "bool", "default": False},
            "return_resource": {"type": "bool", "default": True},
            "baseline": {"type": "dict"},
            "baselines": {"type": "dict"},
            "settle_seconds": {"type": "float", "default": 20.0},
            "trust_observed_generation": {"type": "bool", "default": False},
            "ready_when": {"type": "str"},
            "fail_when": {"type": "str"},
        },
        mutually_exclusive=[("name", "names", "label_selector", "services"), ("namespace", "services"),
                            ("baseline", "baselines", "services")],
        required_one_of=[("namespace", "services")],
        required_if=[("wait", True, ("name", "names", "services"), True)],
    )
)


def get_services(module) -> dict:
    return services_result(_k8s.KubeClient(module), module.params)


def main() -> None:
    run_module(SPEC.create_module(AnsibleK8SModule), get_services)


if __name__ == "__main__":
    main()
