"""The dashboard as code and the compose stack that provisions it (Grafana) and loads the rules (Prometheus).

No Docker engine here: the stack is checked by its files. The generated dashboard must be what
deploy/grafana/dashboard.py builds; Grafana's provisioning files must have the structure Grafana's
docs give (apiVersion 1, datasources / providers) and point where compose mounts things; Prometheus'
config, laid out as compose mounts it, must pass `promtool check config` with the rules loaded.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promtool import tool
from tests.support import REPO

DASHBOARD_JSON = REPO / "deploy" / "grafana" / "dashboards" / "invoicing.json"
ROWS = ["Traffic in", "Pipeline health and lag", "Issuing", "Delivery per target", "Dead letters", "Cycles"]


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return doc


def mounts(service: str) -> dict[str, str]:
    """Container path → host path (relative to the repository) of *service*'s bind mounts."""
    out = {}
    for volume in compose()["services"][service].get("volumes", []):
        host, container, *_ = str(volume).split(":")
        if host.startswith("./"):
            out[container] = host[2:]
    return out


def host_path(service: str, container_path: str) -> Path:
    """Where *container_path* of *service* comes from on the host (through a file or a folder mount)."""
    for container, host in sorted(mounts(service).items(), key=lambda kv: -len(kv[0])):
        if container_path == container or container_path.startswith(container.rstrip("/") + "/"):
            return REPO / host / container_path[len(container):].lstrip("/")
    raise AssertionError(f"{service} does not mount {container_path}")


def test_the_committed_dashboard_is_what_the_code_generates() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="the test extra installs grafana-foundation-sdk")
    from deploy.grafana.dashboard import build

    assert json.loads(DASHBOARD_JSON.read_text()) == build(), \
        "regenerate: python deploy/grafana/dashboard.py > deploy/grafana/dashboards/invoicing.json"


def test_the_dashboard_has_the_rows_the_issue_asks_for_and_one_datasource() -> None:
    board = json.loads(DASHBOARD_JSON.read_text())
    assert [p["title"] for p in board["panels"] if p["type"] == "row"] == ROWS
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    assert all(t["datasource"]["uid"] == "prometheus" for p in panels for t in p["targets"])
    assert all(t.get("expr") for p in panels for t in p["targets"])


def test_grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    assert "image" in grafana and grafana["image"].startswith("grafana/grafana:")
    assert "prometheus" in grafana["depends_on"]
    datasources = list(host_path("grafana", "/etc/grafana/provisioning/datasources").glob("*.yml"))
    providers = list(host_path("grafana", "/etc/grafana/provisioning/dashboards").glob("*.yml"))
    assert datasources and providers
    (ds_doc,) = [yaml.safe_load(p.read_text()) for p in datasources]
    assert ds_doc["apiVersion"] == 1
    (ds,) = ds_doc["datasources"]
    assert ds["type"] == "prometheus" and ds["uid"] == "prometheus" and ds["access"] == "proxy"
    match = re.fullmatch(r"http://([\w-]+):(\d+)", ds["url"])
    assert match and match.group(1) in compose()["services"], ds["url"]
    assert f"{match.group(2)}:{match.group(2)}" in compose()["services"][match.group(1)]["ports"]
    (prov_doc,) = [yaml.safe_load(p.read_text()) for p in providers]
    assert prov_doc["apiVersion"] == 1
    (provider,) = prov_doc["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    folder = host_path("grafana", provider["options"]["path"])
    assert (folder / DASHBOARD_JSON.name).exists(), f"{provider['options']['path']} holds the dashboard"
    home = grafana["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    assert home is None or host_path("grafana", home).exists()


def test_compose_prometheus_loads_the_rules_and_its_config_passes_promtool(tmp_path: Path) -> None:
    prometheus = compose()["services"]["prometheus"]
    config_arg = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = config_arg.split("=", 1)[1]
    config = yaml.safe_load(host_path("prometheus", config_path).read_text())
    assert config["rule_files"], "the rules are loaded"
    # lay the files out as the container sees them, then let promtool check config and rules together
    etc = tmp_path / "etc"
    for container, host in mounts("prometheus").items():
        dest = etc / container.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / host, dest)
    container_dir = Path(config_path).parent
    for rule in config["rule_files"]:
        assert (etc / container_dir.relative_to("/") / rule).exists(), f"{rule} is mounted beside the config"
    run = subprocess.run([tool("promtool"), "check", "config", str(etc / config_path.lstrip("/"))],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 10 rules found" in run.stdout + run.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {"invoicing-gateway", "invoicing-worker"}, "the dashboard and alerts name these jobs"


def test_compose_healthchecks_use_readyz_and_prometheus_can_reach_the_worker() -> None:
    services = compose()["services"]
    for name, port in (("gateway", 8080), ("worker", 9108)):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in check, name
    assert services["worker"]["environment"]["INVOICING_METRICS_HOST"] == "0.0.0.0"
    assert "9108" in services["worker"]["command"]
