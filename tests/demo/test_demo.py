"""`invoicing demo` from the command line: every platform's signed events become invoices."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sources.registry import SOURCES
from tests.support import REPO

pytestmark = pytest.mark.slow


def test_demo_invoices_every_platform(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICING_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    out = tmp_path / "demo-out"
    proc = subprocess.run([sys.executable, "-m", "invoicing", "demo", "--json", "--orders", "3", "--output-dir", str(out)],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["broker"] == "embedded"
    assert summary["invoices_issued"] == summary["invoices_expected"] == 3 * len(SOURCES)
    assert set(summary["invoices_per_platform"]) == set(SOURCES), "invoices from each of the 22 platforms"
    assert summary["events_rejected"] == 0 and summary["dead_letters"] == 0
    assert summary["duplicates_dropped"] >= summary["redeliveries_posted"]
    assert summary["invoiced_per_currency"]
    pdfs = sorted(out.glob("*.pdf"))
    assert len(pdfs) == summary["invoices_issued"] and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert len(list(out.glob("*-20*.xml"))) == summary["invoices_issued"]
    with sqlite3.connect(out / "register.db") as db:
        assert db.execute("select count(*) from invoices").fetchone()[0] == summary["invoices_issued"]
        assert db.execute("select count(*) from invoice_documents").fetchone()[0] >= summary["invoices_issued"]

    # every e-invoice the demo wrote, as written, through the XSD and the CEN (and Peppol) rules
    check = subprocess.run([sys.executable, "-m", "invoicing", "documents", "validate", str(out), "--json"],
                           cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["ok"], json.dumps(report["failures"], indent=1)[:3000]
    assert report["checked"] == summary["invoices_issued"]
    check = subprocess.run([sys.executable, "-m", "invoicing", "documents", "validate", "--register", "--register-path",
                            str(out / "register.db"), "--json"], cwd=str(REPO), env=env, capture_output=True, text=True,
                           timeout=300)
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["ok"], json.dumps(report["failures"], indent=1)[:3000]
    assert report["checked"] == 2 * summary["invoices_issued"], "the UBL and the CII of every registered invoice"
    # the buyers of the platforms whose data came without an address before (SAP, Oracle Fusion) have one now
    for doc in (json.loads(p.read_text())["invoice"] for p in out.glob("*.json")):
        if doc["lineage"][0]["platform"] in ("sap", "oracle-fusion"):
            addr = doc["buyer"]["address"]
            assert doc["buyer"]["name"] and addr["line1"] and addr["city"] and addr["country"], doc["buyer"]
