"""The Kubernetes example of sharded runners, checked without a cluster: the manifests parse, hang
together, the ConfigMap is a valid config whose shard count matches the StatefulSet, each pod's
ordinal becomes its shard, and Redis is configured with the durability the README assumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tradeassist_runner.config.loader import load_config
from tradeassist_runner.config.models import RedisSource
from tradeassist_runner.service.sharded import parse_shards

from ..cli_helpers import ROOT

K8S = ROOT / "deploy" / "kubernetes" / "scale-out"


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in YAML(typ="safe").load_all(path.read_text()):
            if doc.get("kind") != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def pod(workload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    [container] = spec["containers"]
    return spec, container


def test_every_file_is_in_the_kustomization_and_every_reference_resolves() -> None:
    kustomization = YAML(typ="safe").load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    m = manifests()
    secret = YAML(typ="safe").load((ROOT / "deploy" / "kubernetes" / "secret.example.yaml").read_text())
    for kind, name in [("StatefulSet", "tradeassist-runner"), ("Deployment", "tradeassist-ingest")]:
        spec, container = pod(m[(kind, name)])
        for volume in spec["volumes"]:
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in m
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in m
        assert all("subPath" not in v for v in container["volumeMounts"])  # ConfigMap updates reach the pod
        for env in container["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "tradeassist-secrets" and ref["key"] in secret["stringData"], ref


def test_one_runner_per_shard_with_the_ordinal_as_its_shard(tmp_path: Path) -> None:
    m = manifests()
    runners = m[("StatefulSet", "tradeassist-runner")]
    _, container = pod(runners)
    env = {e["name"]: e for e in container["env"]}
    assert env["SHARD"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    names = [e["name"] for e in container["env"]]
    assert names.index("SHARD") < names.index("TRADEASSIST_STORAGE_SCOPE")  # $(SHARD) is expanded in order
    args = container["args"]
    assert args[:2] == ["run", "/app/config/config.yaml"] and args[2] == "--shard"
    assert m[("Service", runners["spec"]["serviceName"])]["spec"]["clusterIP"] == "None"

    (tmp_path / "config").mkdir()
    (tmp_path / "rules.d").mkdir()
    for name, text in m[("ConfigMap", "tradeassist-config")]["data"].items():
        (tmp_path / "config" / name).write_text(text)
    for name, text in m[("ConfigMap", "tradeassist-rules")]["data"].items():
        (tmp_path / "rules.d" / name).write_text(text)
    loaded = load_config(tmp_path / "config" / "config.yaml")
    source = loaded.config.source
    assert isinstance(source, RedisSource)
    assert runners["spec"]["replicas"] == source.shards
    for ordinal in range(runners["spec"]["replicas"]):  # what each pod's --shard becomes
        assert parse_shards((args[3].replace("$(SHARD)", str(ordinal)),), source.shards) == [ordinal]
    assert source.url.startswith("redis://tradeassist-redis:")
    assert loaded.config.storage.url is not None and "@" in loaded.config.storage.url
    assert ":" not in loaded.config.storage.url.split("//", 1)[1].split("@", 1)[0]  # no password in the file


def test_ingest_is_one_pod_with_metrics_and_redis_keeps_an_append_only_file() -> None:
    m = manifests()
    ingest = m[("Deployment", "tradeassist-ingest")]
    assert ingest["spec"]["replicas"] == 1 and ingest["spec"]["strategy"]["type"] == "Recreate"
    _, container = pod(ingest)
    args = container["args"]
    assert args[:2] == ["ingest", "/app/config/config.yaml"]
    port = int(args[args.index("--metrics-port") + 1])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert args[args.index("--metrics-host") + 1] == "0.0.0.0"
    _, redis = pod(m[("StatefulSet", "tradeassist-redis")])
    flags = dict(zip(redis["args"][::2], redis["args"][1::2]))
    assert flags["--appendonly"] == "yes" and flags["--appendfsync"] == "everysec"
    assert m[("Service", "tradeassist-redis")]["spec"]["ports"][0]["port"] == 6379


def test_the_one_machine_example_of_the_readme_is_a_valid_sharded_config() -> None:
    loaded = load_config(ROOT / "examples" / "scale-out" / "config.yaml")
    source = loaded.config.source
    assert isinstance(source, RedisSource) and source.shards == 4 and source.feed.type == "synthetic"
    readme = (ROOT / "README.md").read_text()
    assert "tradeassist ingest examples/scale-out/config.yaml" in readme
    for shards in ("0,1/4", "2,3/4"):  # the README's two runners cover every shard once
        assert f"examples/scale-out/config.yaml --shard {shards}" in readme
    assert sorted(parse_shards(("0,1/4",), 4) + parse_shards(("2,3/4",), 4)) == [0, 1, 2, 3]
