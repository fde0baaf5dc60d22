"""Configuration before events: `invoicing init`, a worker that waits for a seller, `invoicing documents validate`."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from infra.broker import ensure_topics
from domain.codec import decode
from domain.documents import render_ubl
from domain.reference import load_reference_file
from infra.reference_store import publish_reference
from sinks.register.engine import open_register
from sinks.register.store import record_invoice
from demo.samples import shopify as shop
from domain.settings import Settings
from tests.support import REPO, WorkerProcess, read_topic, running_gateway, sample_invoice, source_from_env, \
    unique_settings, wait_until
from tests.streams.test_pipeline_e2e import REFERENCE, post_all

SECRET = "setup-secret"


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoicing", *args], cwd=str(cwd), capture_output=True, text=True,
                          timeout=120)


def test_init_writes_a_starter_file_that_loads_once_its_placeholders_are_filled(tmp_path: Path) -> None:
    path = tmp_path / "reference.yaml"
    done = _cli("init", str(path))
    assert done.returncode == 0 and path.exists(), done.stderr
    text = path.read_text()
    for section in ("defaults:", "tax:", "sellers:", "customers:", "# "):
        assert section in text
    assert _cli("init", str(path)).returncode == 2, "an existing file is not overwritten without --force"
    refused = _cli("reference", "load", str(path), "--bootstrap", "127.0.0.1:9")
    assert refused.returncode == 2 and "CHANGE ME" in refused.stderr and "sellers[0].name" in refused.stderr
    path.write_text(re.sub(r'"CHANGE ME: [^"]*"', '"Filled in"', text))
    kinds = sorted({kind for kind, _key, _value in load_reference_file(path)})
    assert kinds == ["customers", "sellers"]


@pytest.mark.slow
async def test_a_worker_without_a_seller_waits_says_so_and_starts_when_one_arrives(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    source = source_from_env("shopify", monkeypatch, SECRET)
    order = shop.order(3, random.Random(3), SECRET, datetime.now(timezone.utc))
    worker = WorkerProcess(settings, bootstrap).start()
    try:
        ready = f"http://127.0.0.1:{worker.metrics_port}/readyz"
        assert await wait_until(lambda: "no seller" in _checks(ready).get("seller", ""), timeout=60), worker.log()[-2000:]
        assert _status(ready) == 503
        assert "invoicing init" in _checks(ready)["seller"] and _checks(ready)["reference_data"] == "ok"
        async with running_gateway(settings, bootstrap, {"shopify": source}) as base:
            assert await post_all(base, order.requests[-1:]) == [200]
        await wait_until(lambda: "no seller configured" in worker.log(), timeout=30)
        assert "no seller configured" in worker.log()
        assert worker.metric("invoicing_ready", check="seller") == 0
        dead = await read_topic(bootstrap, settings.topic("invoicing.dead-letters"), timeout=3, idle=1.0)
        assert dead == [], "nothing is parked while the worker waits"
        await publish_reference(settings, bootstrap, REFERENCE)
        invoices = await read_topic(bootstrap, settings.topic("invoices"), count=1, timeout=60)
        assert [decode("invoice", m.value)["orders"] for m in invoices] == [[order.expected.order_key]]
        assert await wait_until(lambda: _status(ready) == 200, timeout=10)
        assert "a seller is configured now" in worker.log()
    finally:
        worker.stop()


def _checks(url: str) -> dict[str, str]:
    try:
        return httpx.get(url, timeout=2).json()["checks"]  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError):
        return {}


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_documents_validate_names_the_failing_rules(tmp_path: Path) -> None:
    good = sample_invoice(7)
    (tmp_path / f"{good['number']}.xml").write_bytes(render_ubl(good))
    done = _cli("documents", "validate", str(tmp_path), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"checked": 1, "failed": 0, "ok": True, "failures": {}}
    bad = sample_invoice(9)
    bad["buyer"]["address"]["country"] = ""
    (tmp_path / "broken.xml").write_bytes(render_ubl(bad))
    done = _cli("documents", "validate", str(tmp_path))
    assert done.returncode == 1
    assert re.search(r"^broken\.xml: .*BR-11.*country", done.stdout, re.M), done.stdout
    assert "2 document(s) checked, 1 failed" in done.stdout


def test_documents_validate_the_register(tmp_path: Path) -> None:
    db = tmp_path / "register.db"
    engine = open_register(Settings(register_path=db))
    for n in (4, 5, 8):
        record_invoice(engine, sample_invoice(n))
    done = _cli("documents", "validate", "--register", "--register-path", str(db), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"] and report["checked"] == 6, done.stdout + done.stderr
