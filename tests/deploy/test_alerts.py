"""The alert rules (deploy/prometheus/alerts.yml): valid for promtool, unit-tested, each with a summary and a runbook."""
from __future__ import annotations

import re
import subprocess

import yaml

from tests.deploy.promtool import tool
from tests.support import REPO

RULES_DIR = REPO / "deploy" / "prometheus"
RUNBOOK = REPO / "docs" / "runbook.md"

#: what issue #15 asks alerts for → the alert that covers it
REQUIRED = {
    "lag growing for 10 minutes": "InvoicingConsumerLagGrowing",
    "any dead letter pending": "InvoicingDeadLetterPending",
    "delivery failure ratio per target": "InvoicingDeliveryFailureRatio",
    "circuit open": "InvoicingCircuitOpen",
    "events arriving but no invoices issued": "InvoicingEventsButNoInvoices",
    "gateway 5xx": "InvoicingGateway5xx",
    "a spike in rejected signatures": "InvoicingSignatureRejectionSpike",
    "a scrape target down": "InvoicingScrapeTargetDown",
    "invoice documents failing validation": "InvoicingDocumentsFailingValidation",
}


def alerts() -> list[dict[str, object]]:
    doc = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_rules() -> None:
    run = subprocess.run([tool("promtool"), "check", "rules", "alerts.yml"], cwd=RULES_DIR, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in run.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    run = subprocess.run([tool("promtool"), "test", "rules", "alerts_test.yml"], cwd=RULES_DIR, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
    firing = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {str(a["alert"]) for a in alerts()} <= firing, "every alert has a unit test in which it fires"


def test_the_issue_list_of_alerts_is_covered() -> None:
    names = {a["alert"] for a in alerts()}
    missing = {need: name for need, name in REQUIRED.items() if name not in names}
    assert not missing, missing
    lag = next(a for a in alerts() if a["alert"] == "InvoicingConsumerLagGrowing")
    assert lag["for"] == "10m" and "[10m]" in str(lag["expr"])


def test_every_alert_has_a_summary_and_a_runbook_section_that_says_what_to_do() -> None:
    text = RUNBOOK.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for rule in alerts():
        name = str(rule["alert"])
        annotations = rule["annotations"]
        assert isinstance(annotations, dict) and annotations.get("summary"), name
        assert annotations.get("runbook") == f"docs/runbook.md#{name.lower()}", name
        assert name in sections, f"docs/runbook.md has no section ## {name}"
        assert re.search(r"^(1\.|\*) ", sections[name], flags=re.M), f"{name}: the runbook lists what to do"
