"""The files other people rely on: docker-compose.yml, the console script, the README's commands."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import REPO


def test_compose_is_a_valid_stack() -> None:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "gateway", "worker", "prometheus"} <= set(services)
    for name, svc in services.items():
        assert ("image" in svc) != ("build" in svc), f"{name}: exactly one of image or build"
        for port in svc.get("ports", []):
            assert re.fullmatch(r"\d+:\d+", str(port)), f"{name}: port {port!r}"
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: environment must be a mapping"
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    for role in ("gateway", "worker"):
        svc = services[role]
        assert svc["build"] == "."
        assert svc["command"][0] == role
        assert svc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "--store" in services["worker"]["command"] and "rocksdb://" in services["worker"]["command"]
    scrape = yaml.safe_load((REPO / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {"gateway:8080", "worker:9108"}
    assert "9108:9108" in services["worker"]["ports"] and "8080:8080" in services["gateway"]["ports"]
    for volume in ("./prometheus.yml",):
        assert any(v.startswith(volume) for v in services["prometheus"]["volumes"])
    assert (REPO / "Dockerfile").exists()


def test_readme_quick_start_has_exactly_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:sh|bash)\n(.*?)```", quick, re.S)
    assert len(commands) == 2, commands
    assert commands[0].strip().endswith("invoicing demo")
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.strip() == commands[1].strip(), ".ci/run runs the README's test command, nothing else"


def test_console_script_lists_the_contract_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "invoicing", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("broker", "worker", "gateway", "demo", "bench", "reference", "dlq"):
        assert command in out


def test_the_code_type_checks_under_mypy_strict(tmp_path: Path) -> None:
    """pyproject.toml says strict: the packages hold to it (no cache from earlier runs is trusted)."""
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "domain", "infra", "sources",
                          "sinks", "streams", "invoicing", "demo"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_pyflakes_finds_nothing_unused_or_undefined() -> None:
    """No unused import or variable, no undefined name, in the packages and the tests (pyflakes is in the test
    extra; a re-export is an assignment, which pyflakes does not flag)."""
    run = subprocess.run([sys.executable, "-m", "pyflakes", "domain", "infra", "sources", "sinks", "streams",
                          "invoicing", "demo", "schemas", "deploy", "tests"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
