#!/usr/bin/python3
"""Renders deploy/k8s offline and checks what it would deploy.

usage: deploy_manifests_test.py CAIRN_BINARY SOURCE_DIR

For deploy/k8s/base, every overlay and strimzi-topics: `kubectl kustomize`
must succeed and its output must pass yamllint (deploy/.yamllint). For each
overlay: the StatefulSet must have a PVC template, the probes on /healthz
and /readyz, the pod name as --instance-id; the engine config extracted
from the rendered cairn-config ConfigMap must pass `cairn validate --config`
and the journeys + templates ConfigMaps `cairn validate DIR`. A config with
an unknown key must be refused with file:line:col (the check can fail).
Runs offline; every subprocess has a timeout.
"""
import os
import subprocess
import sys
import tempfile

import yaml  # python3-yaml, a dependency of Debian's yamllint

TIMEOUT = 60
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def tool(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    print(f"FAIL: {name} not found: run deploy/bootstrap-deps.sh (it installs it)")
    sys.exit(1)


def main():
    cairn, src = sys.argv[1], sys.argv[2]
    kubectl, yamllint = tool("kubectl"), tool("yamllint")
    deploy = os.path.join(src, "deploy")
    lint_cfg = os.path.join(deploy, ".yamllint")

    r = run([yamllint, "-f", "parsable", "-c", lint_cfg, deploy])
    check(r.returncode == 0, "yamllint deploy/: " + r.stdout + r.stderr)

    # The journeys shipped in the base are copies of journeys/: no drift.
    base = os.path.join(deploy, "k8s", "base")
    for sub, origin in (("journeys", "journeys"), ("templates", "journeys/templates")):
        for name in os.listdir(os.path.join(base, sub)):
            with open(os.path.join(base, sub, name)) as a, open(os.path.join(src, origin, name)) as b:
                check(a.read() == b.read(), f"deploy/k8s/base/{sub}/{name} differs from {origin}/{name}")

    overlays_dir = os.path.join(deploy, "k8s", "overlays")
    overlays = sorted(os.listdir(overlays_dir))
    check(set(overlays) >= {"dev", "prod"}, f"overlays dev and prod exist (have {overlays})")
    targets = [("base", base), ("strimzi-topics", os.path.join(deploy, "k8s", "strimzi-topics"))]
    targets += [(o, os.path.join(overlays_dir, o)) for o in overlays]

    with tempfile.TemporaryDirectory() as tmp:
        for name, path in targets:
            r = run([kubectl, "kustomize", path])
            if r.returncode != 0:
                check(False, f"kubectl kustomize {name}: {r.stderr}")
                continue
            rendered = r.stdout
            lint = run([yamllint, "-f", "parsable", "-c", lint_cfg, "-"], input=rendered)
            check(lint.returncode == 0, f"yamllint of rendered {name}: {lint.stdout}")
            docs = [d for d in yaml.safe_load_all(rendered) if d]
            by_kind = {}
            for d in docs:
                by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
            print(f"{name}: {len(docs)} objects: " + ", ".join(sorted(by_kind)))
            if name == "strimzi-topics":
                topics = set(by_kind.get("KafkaTopic", {}))
                check(topics == {"cairn.events", "cairn.events.dlq", "cairn.tasks", "cairn.sends.whatsapp"},
                      f"strimzi topics: {topics}")
                continue
            check_workload(name, by_kind, cairn, os.path.join(tmp, name))

        # The validation can fail: an unknown key is refused with file:line:col.
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("kafka:\n  brokers: x:9092\n  brokerz: y\n")
        r = run([cairn, "validate", "--config", bad])
        check(r.returncode == 1 and f"{bad}:3:3" in r.stdout,
              f"a bad config is refused with file:line:col (rc {r.returncode}: {r.stdout})")

    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ok")


def check_workload(name, by_kind, cairn, out):
    for kind, obj in (("StatefulSet", "cairn"), ("PodDisruptionBudget", "cairn"),
                      ("ServiceMonitor", "cairn"), ("Service", "cairn-headless"),
                      ("Service", "cairn-tracking"), ("Service", "cairn-admin"),
                      ("ConfigMap", "cairn-config"), ("ConfigMap", "cairn-journeys"),
                      ("ConfigMap", "cairn-templates"), ("Secret", "cairn-secrets")):
        check(obj in by_kind.get(kind, {}), f"{name}: {kind}/{obj} rendered")
    sts = by_kind.get("StatefulSet", {}).get("cairn")
    if sts is None:
        return
    spec = sts["spec"]
    check(spec["serviceName"] == "cairn-headless", f"{name}: serviceName")
    check(by_kind["Service"]["cairn-headless"]["spec"].get("clusterIP") == "None", f"{name}: headless")
    check([t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])] == ["data"],
          f"{name}: one PVC template per pod")
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    args = c["args"]
    check(args[args.index("--instance-id") + 1] == "$(POD_NAME)", f"{name}: --instance-id $(POD_NAME)")
    env = {e["name"]: e for e in c.get("env", [])}
    check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
          f"{name}: POD_NAME from the downward API")
    check(c["startupProbe"]["httpGet"]["path"] == "/healthz", f"{name}: startup probe /healthz")
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness /healthz (not Kafka)")
    check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness /readyz")
    check("requests" in c["resources"] and "limits" in c["resources"], f"{name}: requests and limits")
    check(pod["securityContext"].get("runAsNonRoot") is True, f"{name}: non-root")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    cfg_path = args[args.index("--config") + 1]
    check(cfg_path == os.path.join(mounts.get("config", "?"), "cairn.yaml"),
          f"{name}: --config {cfg_path} is in the mounted ConfigMap")

    # Write the mounted files out as the kubelet would, then validate them.
    os.makedirs(os.path.join(out, "journeys", "templates"))
    config_data = by_kind["ConfigMap"]["cairn-config"]["data"]
    cfg_file = os.path.join(out, "cairn.yaml")
    with open(cfg_file, "w") as f:
        f.write(config_data["cairn.yaml"])
    for cm, sub in (("cairn-journeys", "journeys"), ("cairn-templates", "journeys/templates")):
        for fname, text in by_kind["ConfigMap"][cm].get("data", {}).items():
            with open(os.path.join(out, sub, fname), "w") as f:
                f.write(text)
    r = run([cairn, "validate", "--config", cfg_file])
    check(r.returncode == 0 and "ok: config" in r.stdout,
          f"{name}: cairn validate --config: rc {r.returncode}: {r.stdout}{r.stderr}")
    r = run([cairn, "validate", os.path.join(out, "journeys")])
    check(r.returncode == 0, f"{name}: cairn validate journeys: rc {r.returncode}: {r.stdout}{r.stderr}")
    print(f"{name}: validate: {r.stdout.strip()}")

    config = yaml.safe_load(config_data["cairn.yaml"])
    check(config["journeys"]["dir"] == mounts.get("journeys"), f"{name}: journeys.dir is the mounted ConfigMap")
    check(config["dispatch"]["templates_dir"] == mounts.get("templates"), f"{name}: templates_dir mounted")
    check(config["storage"]["data_dir"].startswith(mounts.get("data", "?")), f"{name}: data_dir on the PVC")
    check(config["kafka"]["consumer"].get("partition.assignment.strategy") == "cooperative-sticky",
          f"{name}: cooperative-sticky")
    secrets = mounts.get("secrets", "?")
    for key in ("tracking", "connectors"):
        check(key in config, f"{name}: {key} configured")
    files = [config["tracking"]["key_file"]] + [
        v for conn in config.get("connectors", {}).values() for k, v in conn.items() if k.endswith("_file")]
    secret_keys = set(by_kind["Secret"]["cairn-secrets"].get("stringData", {}))
    for path in files:
        check(os.path.dirname(path) == secrets and os.path.basename(path) in secret_keys,
              f"{name}: {path} is a key of the mounted Secret")


if __name__ == "__main__":
    main()
