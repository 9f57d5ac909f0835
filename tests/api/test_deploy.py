"""The container recipe and the Kubernetes example, checked without a Docker engine or a cluster:
paths exist, manifests hang together, the shipped config validates, and the probe commands
really pass against a running service."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tradeassist_runner.config.loader import load_config

from ..cli_helpers import ROOT
from .conftest import NEVER, Service, project

K8S = ROOT / "deploy" / "kubernetes"


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in YAML(typ="safe").load_all(path.read_text()):
            if doc.get("kind") != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def dockerfile() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_copies_what_exists_and_runs_the_console_script() -> None:
    lines = dockerfile()
    assert lines[:2] == ["ARG BASE_IMAGE=python:3.11-slim", "FROM ${BASE_IMAGE}"]  # slim by default
    ignored = {p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")}
    for line in lines:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source not in ignored, f"{source} is excluded by .dockerignore"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'ENTRYPOINT ["tradeassist"]' in lines and "tradeassist" in scripts
    assert 'CMD ["run", "/app/config/config.yaml"]' in lines and (ROOT / "config" / "config.yaml").exists()
    assert "USER tradeassist" in lines
    assert any("pip install '/src[schwab,server]'" in line for line in lines)
    assert any(line.startswith("ENV TRADEASSIST_API_ENABLED=true") and "TRADEASSIST_API_HOST=0.0.0.0" in line
               for line in lines)
    [health] = [line for line in lines if line.startswith("HEALTHCHECK")]
    assert "/healthz" in health and "curl" not in health


def test_kubernetes_manifests_hang_together(tmp_path: Path) -> None:
    m = manifests()
    deployment = m[("Deployment", "tradeassist")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "/readyz" in " ".join(container["readinessProbe"]["exec"]["command"])
    env = {e["name"]: e for e in container["env"]}
    assert env["TRADEASSIST_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tradeassist-secrets"
    secret = YAML(typ="safe").load((K8S / "secret.example.yaml").read_text())
    assert env["TRADEASSIST_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    assert all("subPath" not in v for v in container["volumeMounts"])  # subPath mounts never update
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["config"] == "/app/config" and mounts["rules"] == "/app/rules.d" and mounts["data"] == "/app/data"
    assert ("ConfigMap", volumes["config"]["configMap"]["name"]) in m
    assert ("ConfigMap", volumes["rules"]["configMap"]["name"]) in m
    assert ("PersistentVolumeClaim", volumes["data"]["persistentVolumeClaim"]["claimName"]) in m
    assert m[("Service", "tradeassist")]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    kustomization = YAML(typ="safe").load((K8S / "kustomization.yaml").read_text())
    assert all((K8S / r).exists() for r in kustomization["resources"])

    # The ConfigMaps, laid out as the pod sees them, are a valid config.
    (tmp_path / "config").mkdir()
    (tmp_path / "rules.d").mkdir()
    for name, text in m[("ConfigMap", "tradeassist-config")]["data"].items():
        (tmp_path / "config" / name).write_text(text)
    for name, text in m[("ConfigMap", "tradeassist-rules")]["data"].items():
        (tmp_path / "rules.d" / name).write_text(text)
    loaded = load_config(tmp_path / "config" / "config.yaml")
    assert loaded.config.api.enabled and len(loaded.rules) == 3
    assert loaded.resolve(loaded.config.storage.sqlite) == (tmp_path / "data" / "alerts.sqlite").resolve()


def test_the_probe_commands_pass_against_a_running_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "probe-token-0123456789abcdef"
    monkeypatch.setenv("TRADEASSIST_API_TOKEN", token)
    config = project(tmp_path, {"a.yaml": NEVER})
    [health] = [line for line in dockerfile() if line.startswith("HEALTHCHECK")]
    healthcheck = shlex.split(health.split(" CMD ", 1)[1].split(" || ")[0])
    container = manifests()[("Deployment", "tradeassist")]["spec"]["template"]["spec"]["containers"][0]
    readiness = container["readinessProbe"]["exec"]["command"]

    async def scenario() -> None:
        async with Service(config) as svc:
            port = svc.url.rsplit(":", 1)[1]
            env = {**os.environ, "TRADEASSIST_API_PORT": port, "TRADEASSIST_API_TOKEN": token}
            for command in (healthcheck, [c.replace("8080", port) for c in readiness]):
                assert command[0] == "python"
                proc = await asyncio.create_subprocess_exec(sys.executable, *command[1:], env=env,
                                                            stderr=subprocess.PIPE)
                _, err = await proc.communicate()
                assert proc.returncode == 0, err.decode()
            # and the readiness probe fails without the token (401)
            bad = {**env, "TRADEASSIST_API_TOKEN": "wrong"}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *[c.replace("8080", port) for c in readiness][1:], env=bad, stderr=subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 1 and b"401" in err

    asyncio.run(scenario())
