"""aml.kserve against the deploy-inference-service pipeline, side by side, on the same local kube-apiserver,
KServe simulator and GitLab emulator. Prints a table of medians; asserts nothing (speed targets are not tests).

    .venv/bin/python -m benchmarks.run [--rounds 3] [--batch 100:10,500:10,1000:50] [--seed-dir ../shared/seed]

Side by side in one run: the floor (ansible-playbook with a single kubernetes.core.k8s server-side apply of an
InferenceService, plus the simulator's ready delay), one deploy with the role, and batches (services:namespaces)
with their wall time, requests per service and peak memory.

The pipeline's own bash script is read from the seed at run time (never copied into this repository) and run as
Tekton would run it, with kubectl, curl and jq; without the seed, the pipeline column is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import kubernetes.client
import yaml

from tests.harness.ansible import REPO_ROOT, ansible_env
from tests.harness.gitlab_emulator import GitLabEmulator
from tests.harness.kserve_simulator import KServeSimulator
from tests.harness.kube import KubeCluster
from tests.harness.pipeline import Pipeline, extract_pipeline, run_pipeline
from tests.integration.roles_support import create_runtime, prepare_namespace

SCENARIO = "aml.kserve.test/scenario"
READY_AFTER = "aml.kserve.test/ready-after"
SIMULATOR_AGENT = "aml-kserve-simulator"
PIPELINE_CAP = 60.0


class Bench:
    def __init__(self, workdir: pathlib.Path, seed: Pipeline | None) -> None:
        self.workdir = workdir
        self.seed = seed
        self.kube = KubeCluster(workdir / "kube").start()
        self.gitlab = GitLabEmulator(workdir / "gitlab", token="glpat-" + secrets.token_hex(10)).start()
        self.simulator = KServeSimulator(self.kube.api_client())
        self.simulator.start()
        self.core = kubernetes.client.CoreV1Api(self.kube.api_client())
        for repo in ("alpha", "beta"):
            self.gitlab.create_project(f"amlmodels/bench/{repo}", files={"README.md": GitLabEmulator.model_readme()},
                                       tags={"v1": "main"})
        create_runtime(self.kube, "bench-vllm", ["transformers"], runtime_class="vllm")
        self.counter = 0

    def close(self) -> None:
        self.simulator.stop()
        self.gitlab.stop()
        self.kube.stop()

    def namespace(self, labels: dict[str, str]) -> str:
        self.counter += 1
        name = f"bench-{self.counter:03d}"
        self.core.create_namespace({"metadata": {"name": name, "labels": labels}})
        prepare_namespace(self.kube, self.gitlab, name, model_ns="amlmodels/bench", repo="alpha")
        return name

    # -- the two tools -------------------------------------------------------------------

    def ours(self, namespace: str, name: str, timeout: int = 1800) -> tuple[int, float, float]:
        extra = {"isvc_name": name, "isvc_namespace": namespace, "isvc_model_repo": "alpha", "isvc_model_repo_tag": "v1",
                 "isvc_runtime_class": "vllm", "isvc_wait_timeout": timeout}
        argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), str(REPO_ROOT / "playbooks" / "deploy.yml"),
                "-e", json.dumps(extra)]
        env = ansible_env({"K8S_AUTH_KUBECONFIG": str(self.kube.kubeconfig)})
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        ended = time.monotonic()
        return proc.returncode, ended - started, ended

    def floor(self, namespace: str, name: str) -> float:
        """What no deploy can beat: ansible-playbook with one kubernetes.core.k8s server-side apply of the manifest
        the role renders, then the simulator's ready delay (the time it takes to write Ready after the apply)."""
        manifest = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"predictor": {"model": {"modelFormat": {"name": "transformers"}, "runtime": "bench-vllm",
                                                     "storageUri": "hf://bench/alpha:v1"}}}}
        playbook = self.workdir / "floor.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                             "tasks": [{"kubernetes.core.k8s": {
                                                 "definition": manifest, "apply": True,
                                                 "server_side_apply": {"field_manager": "floor"}}}]}]))
        argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)]
        env = ansible_env({"K8S_AUTH_KUBECONFIG": str(self.kube.kubeconfig),
                           "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        applied = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("the floor's apply failed:\n" + proc.stdout[-2000:])
        ready = self.simulator.wait_for(namespace, name, "ready", timeout=30)
        return applied + max(0.0, ready - (started + applied))

    def pipeline(self, namespace: str, name: str, cap: float = PIPELINE_CAP) -> tuple[int | None, float, float]:
        """The pipeline's script with kubectl/curl/jq, as its Tekton task runs it; None when cut at ``cap``."""
        assert self.seed is not None
        started = time.monotonic()
        try:
            code: int | None = run_pipeline(self.seed, self.kube.kubeconfig, namespace, self.workdir, timeout=cap,
                                            INFERENCE_SERVICE_NAME=name, MODEL_REPO="alpha", MODEL_REPO_TAG="v1",
                                            RUNTIME_CLASS="vllm").returncode
        except subprocess.TimeoutExpired:
            code = None
        ended = time.monotonic()
        return code, ended - started, ended

    # -- measurements --------------------------------------------------------------------

    def ready_delay(self, tool: str) -> float:
        """From the simulator writing Ready (and the rollout) to the tool returning."""
        ns = self.namespace({READY_AFTER: "3"})
        name = "ready-delay"
        since = time.monotonic()
        code, _seconds, ended = self.ours(ns, name) if tool == "ours" else self.pipeline(ns, name)
        if code != 0:
            raise RuntimeError(f"{tool} failed in {ns}")
        return ended - self.simulator.wait_for(ns, name, "ready", timeout=5, since=since)

    def end_to_end(self, tool: str) -> float:
        ns = self.namespace({READY_AFTER: "1"})
        code, seconds, _ended = self.ours(ns, "e2e") if tool == "ours" else self.pipeline(ns, "e2e")
        if code != 0:
            raise RuntimeError(f"{tool} failed in {ns}")
        return seconds

    def time_to_fail(self, tool: str) -> float | None:
        ns = self.namespace({SCENARIO: "fail-load", READY_AFTER: "1"})
        code, seconds, _ended = self.ours(ns, "fails", timeout=1800) if tool == "ours" else self.pipeline(ns, "fails")
        if code is None:
            return None  # cut at the cap
        if code == 0:
            raise RuntimeError(f"{tool} reported success on a model that fails to load")
        return seconds

    def batch(self, services: int, namespaces: int = 10, forks: int = 10) -> dict[str, float]:
        names = [self.namespace({READY_AFTER: "0.5"}) for _index in range(namespaces)]
        groups = {}
        for i, ns in enumerate(names):
            count = len(range(i, services, namespaces))
            hosts = {f"b{services}-{i}-{k}": {"isvc_model_repo": "alpha" if k % 2 == 0 else "beta", "isvc_model_repo_tag": "v1"}
                     for k in range(count)}
            groups[f"ns_{i}"] = {"hosts": hosts, "vars": {"isvc_namespace": ns}}
        inventory = self.workdir / f"inventory-{services}.yml"
        inventory.write_text(yaml.safe_dump({"all": {"children": {"isvc": {
            "children": groups, "vars": {"ansible_connection": "local", "isvc_runtime_class": "vllm"}}}}}))
        mark = self.kube.audit_mark()
        self.gitlab.reset_counters()
        argv = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-f", str(forks),
                str(REPO_ROOT / "playbooks" / "batch_deploy.yml"),
                "-e", json.dumps({"isvc_batch_report_dir": str(self.workdir / f"report-{services}")})]
        env = ansible_env({"K8S_AUTH_KUBECONFIG": str(self.kube.kubeconfig)})
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        wall = time.monotonic() - started
        # the largest child so far (ansible-playbook or one of its forks), in MiB; only meaningful when it grew
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        if proc.returncode != 0:
            raise RuntimeError("batch failed:\n" + proc.stdout[-3000:])
        ours = [e for e in self.kube.audit_events_since(mark)
                if e["user"]["username"] == "aml-admin" and SIMULATOR_AGENT not in e.get("userAgent", "")]
        return {"wall": wall, "kube_per_service": len(ours) / services,
                "gitlab_per_service": self.gitlab.request_count("/api/v4/") / services,
                "peak_mib": peak if peak * 1024 > before else float("nan")}


def fmt(value: float | None, unit: str = "s") -> str:
    return f"> {PIPELINE_CAP:.0f} s" if value is None else f"{value:.2f} {unit}"


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) / 2 or not known else statistics.median(known)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", default="100:10,500:10,1000:50",
                        help="batches as services:namespaces, comma-separated ('' to skip)")
    parser.add_argument("--seed-dir", default=str(REPO_ROOT.parent / "shared" / "seed"))
    parser.add_argument("--skip-pipeline", action="store_true")
    options = parser.parse_args()
    seed = None if options.skip_pipeline else extract_pipeline(pathlib.Path(options.seed_dir))
    for tool in ("kubectl", "curl", "jq"):
        if seed and shutil.which(tool) is None:
            print(f"{tool} not found: the pipeline column is left out")
            seed = None
    tools = ["ours"] + (["pipeline"] if seed else [])
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="aml-kserve-bench-"))
    bench = Bench(workdir, seed)
    rows: list[tuple[str, str, str, str]] = []
    try:
        results: dict[str, dict[str, list[float | None]]] = {m: {t: [] for t in tools} for m in ("ready", "e2e", "fail")}
        floors: list[float | None] = []
        for _round in range(options.rounds):
            for tool in tools:  # alternating, so drift hits both
                results["ready"][tool].append(bench.ready_delay(tool))
            # the floor right before each one deploy: this VM's speed drifts by 20% within minutes, so the ratio is
            # taken pair by pair (the median of the rounds' ratios), not as a ratio of two medians
            floors.append(bench.floor(bench.namespace({READY_AFTER: "1"}), "floor"))
            for tool in tools:
                results["e2e"][tool].append(bench.end_to_end(tool))
            for tool in tools:
                results["fail"][tool].append(bench.time_to_fail(tool))
        labels = {"ready": "1. Ready-detection delay (p50)", "e2e": "2. One deploy, simulator ready after 1 s",
                  "fail": "4. Time to fail on a model that fails to load"}
        floor = median(floors)
        rows.append(("0. Floor: one kubernetes.core.k8s apply + ready delay", fmt(floor), "", ""))
        for key, label in labels.items():
            ours = median(results[key]["ours"])
            theirs = median(results[key]["pipeline"]) if seed else None
            ratio = f"{ours / theirs:.2f}" if seed and ours is not None and theirs else ("n/a" if not seed else "< " + f"{ours / PIPELINE_CAP:.2f}")
            rows.append((label, fmt(ours), fmt(theirs) if seed else "(no seed)", ratio))
            if key == "e2e" and ours is not None and floor:
                ratios = [e / f for e, f in zip(results["e2e"]["ours"], floors) if e is not None and f]
                rows.append(("   one deploy / floor, median of the rounds' ratios (target <= 1.3)",
                             f"{statistics.median(ratios):.2f}", "", ""))
        for spec in [s for s in options.batch.split(",") if s.strip()]:
            size, _sep, spread = spec.partition(":")
            numbers = bench.batch(int(size), int(spread or 10))
            rows.append((f"3. Batch of {size} in {spread or 10} namespaces, -f 10: wall", fmt(numbers["wall"]), "", ""))
            rows.append(("   seconds per service", f"{numbers['wall'] / int(size):.3f}", "", ""))
            rows.append(("   kube API requests per service (target <= 3.5)", f"{numbers['kube_per_service']:.2f}", "", ""))
            rows.append(("   GitLab requests per service (target <= 3)", f"{numbers['gitlab_per_service']:.2f}", "", ""))
            rows.append(("   peak memory of a process", f"{numbers['peak_mib']:.0f} MiB", "", ""))
    finally:
        bench.close()
    print(f"\naml.kserve benchmarks, {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {options.rounds} rounds, medians")
    widths = [max(len(r[i]) for r in rows + [("measure", "aml.kserve", "pipeline", "ours/pipeline")]) for i in range(4)]
    for row in [("measure", "aml.kserve", "pipeline", "ours/pipeline")] + rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
