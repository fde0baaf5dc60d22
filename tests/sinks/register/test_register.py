"""The invoice register against SQLite and the real PostgreSQL: migrations, idempotent writes, CLI."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect

from invoicing.cli import main as cli_main
from domain.documents import document_hashes
from sinks.register import (current_revision, get_by_number, head_revision, migrate, open_register,
                                record_invoice, record_receipts, row_counts, search)
from domain.settings import Settings, platform_settings
from sinks.delivery import deliver
from sinks.register.sink import RegisterSink
from tests.support import sample_invoice

TARGETS = ("folder", "email", "register")
AT = datetime(2026, 11, 24, 9, 0, 5, 123000, tzinfo=timezone.utc)


def receipt(inv: dict[str, Any], target: str, status: str = "DELIVERED", *, seconds: int = 0) -> dict[str, Any]:
    return {"invoice_id": inv["invoice_id"], "number": inv["number"], "target": target, "status": status,
            "external_id": f"{target}-{inv['number']}" if status != "PARKED" else None, "attempts": 1 if status != "PARKED" else 5,
            "at": AT + timedelta(seconds=seconds), "detail": "retries exhausted: HTTP 503" if status == "PARKED" else None}


@pytest.fixture(scope="module")
def invoices() -> list[dict[str, Any]]:
    return [sample_invoice(n, targets=TARGETS) for n in (1, 2, 3)] + [
        sample_invoice(4, targets=TARGETS, document_type="CREDIT_NOTE")]


@pytest.fixture(scope="module")
def hashes(invoices: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {inv["invoice_id"]: document_hashes(inv) for inv in invoices}


def test_migrations_run_from_scratch(register_settings: Settings) -> None:
    engine = open_register(register_settings)
    assert current_revision(engine) == head_revision() == "0002"
    assert migrate(engine, register_settings.register_schema) == "0002", "upgrade head again is a no-op"
    insp = inspect(engine)
    names = set(insp.get_table_names(schema=register_settings.register_schema))
    assert {"invoices", "invoice_lines", "invoice_taxes", "invoice_lineage", "invoice_documents",
            "delivery_receipts", "email_messages", "console_users", "console_audit", "invoicing_register_version"} <= names
    total = {c["name"]: c["type"] for c in insp.get_columns("invoices", schema=register_settings.register_schema)}["total"]
    if engine.dialect.name == "postgresql":
        assert (total.precision, total.scale) == (22, 4), "money is NUMERIC(22,4)"
    else:
        assert "CHAR" in str(total).upper(), "SQLite keeps money as decimal text, never REAL"


def test_record_then_replay_twice_changes_nothing(register_settings: Settings, invoices: list[dict[str, Any]],
                                                  hashes: dict[str, dict[str, str]]) -> None:
    engine = open_register(register_settings)
    receipts = [receipt(inv, t, seconds=i) for inv in invoices for i, t in enumerate(TARGETS)]
    for inv in invoices:
        assert record_invoice(engine, inv, hashes[inv["invoice_id"]]) is True
    assert record_receipts(engine, receipts) == len(receipts)
    first = row_counts(engine)
    assert first["invoices"] == 4 and first["delivery_receipts"] == 12
    assert first["invoice_lines"] == sum(len(i["lines"]) for i in invoices)
    assert first["invoice_lineage"] == sum(len(i["lineage"]) for i in invoices)
    assert first["invoice_documents"] == sum(len(h) for h in hashes.values())
    for _ in range(2):
        for inv in invoices:
            assert record_invoice(engine, inv, hashes[inv["invoice_id"]]) is False
        assert record_receipts(engine, receipts) == 0
        assert row_counts(engine) == first

    inv = invoices[0]
    got = get_by_number(engine, inv["number"])
    assert got is not None and got["invoice_id"] == inv["invoice_id"] and got["status"] == "DELIVERED"
    for k in ("line_total", "tax_total", "total", "amount_due"):
        assert isinstance(got[k], Decimal) and got[k] == inv[k]
    assert [ln["net_amount"] for ln in got["lines"]] == [ln["net_amount"] for ln in inv["lines"]]
    assert [(s["platform"], s["event_id"]) for s in got["lineage"]] == [(s["platform"], s["event_id"]) for s in inv["lineage"]]
    assert got["documents"] == hashes[inv["invoice_id"]]
    assert [(r["target"], r["status"]) for r in got["receipts"]] == [(t, "DELIVERED") for t in TARGETS]
    assert got["issue_date"] == inv["issue_date"] and got["receipts"][0]["at"] == AT


def test_status_follows_the_latest_receipt_of_each_target(register_settings: Settings,
                                                          invoices: list[dict[str, Any]]) -> None:
    engine = open_register(register_settings)
    inv = invoices[1]
    record_invoice(engine, inv)
    assert search(engine, status="ISSUED")[0]["number"] == inv["number"]
    record_receipts(engine, [receipt(inv, "folder")])
    assert get_by_number(engine, inv["number"])["status"] == "PARTIAL"  # type: ignore[index]
    record_receipts(engine, [receipt(inv, "email", "PARKED", seconds=1)])
    assert [r["number"] for r in search(engine, status="parked")] == [inv["number"]]
    record_receipts(engine, [receipt(inv, "email", "DELIVERED", seconds=60), receipt(inv, "register", "ALREADY_PRESENT", seconds=2)])
    assert get_by_number(engine, inv["number"])["status"] == "DELIVERED"  # type: ignore[index]


def test_receipt_before_its_invoice_is_kept(register_settings: Settings, invoices: list[dict[str, Any]]) -> None:
    engine = open_register(register_settings)
    inv = invoices[2]
    assert record_receipts(engine, [receipt(inv, t) for t in TARGETS]) == 3
    record_invoice(engine, inv)
    record_receipts(engine, [receipt(inv, t) for t in TARGETS])
    got = get_by_number(engine, inv["number"])
    assert got is not None and len(got["receipts"]) == 3


async def test_register_sink_delivers_once(register_settings: Settings) -> None:
    inv = sample_invoice(5, targets=("register",))
    sink = RegisterSink(platform_settings("register"), httpx.AsyncClient(), register_settings)
    first = await deliver(sink, inv, register_settings)
    second = await deliver(RegisterSink(platform_settings("register"), httpx.AsyncClient(), register_settings), inv,
                           register_settings)
    await sink.close()
    assert (first.status, second.status) == ("DELIVERED", "ALREADY_PRESENT"), (first.detail, second.detail)
    engine = open_register(register_settings)
    counts = row_counts(engine)
    assert counts["invoices"] == 1 and counts["invoice_documents"] == 3
    assert set(get_by_number(engine, inv["number"])["documents"]) == {"pdf", "ubl", "cii"}  # type: ignore[index]


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    argv = ["register", *args]
    if settings.register_dsn is not None:
        monkeypatch.setenv("INVOICING_REGISTER_DSN", settings.register_dsn.get_secret_value())
        argv += ["--schema", str(settings.register_schema)]
    else:
        argv += ["--register-path", str(settings.register_path)]
    return argv


def test_cli_show_search_export(register_settings: Settings, invoices: list[dict[str, Any]],
                                hashes: dict[str, dict[str, str]], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(_cli(register_settings, monkeypatch, "migrate")) == 0
    assert "revision 0002" in capsys.readouterr().out
    engine = open_register(register_settings)
    for inv in invoices:
        record_invoice(engine, inv, hashes[inv["invoice_id"]])
        record_receipts(engine, [receipt(inv, t, seconds=i) for i, t in enumerate(TARGETS)])
    inv = invoices[0]

    assert cli_main(_cli(register_settings, monkeypatch, "show", inv["number"], "--json")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["total"] == f"{inv['total']:.2f}" and shown["documents"] == hashes[inv["invoice_id"]]
    assert cli_main(_cli(register_settings, monkeypatch, "show", inv["number"])) == 0
    text = capsys.readouterr().out
    assert inv["number"] in text and "shopify:" in text and "DELIVERED" in text
    assert cli_main(_cli(register_settings, monkeypatch, "show", "INV-0000-NONE")) == 1
    capsys.readouterr()

    day = inv["issue_date"].isoformat()
    assert cli_main(_cli(register_settings, monkeypatch, "search", "--customer", inv["customer_id"], "--from", day,
                         "--to", day, "--status", "delivered", "--json")) == 0
    found = json.loads(capsys.readouterr().out)
    assert inv["number"] in [r["number"] for r in found]
    assert all(r["customer_id"] == inv["customer_id"] or inv["customer_id"] in r["buyer_name"] for r in found)
    assert cli_main(_cli(register_settings, monkeypatch, "search", "--to", "2000-01-01")) == 0
    assert "0 invoice(s)" in capsys.readouterr().out

    out = tmp_path / "audit.csv"
    assert cli_main(_cli(register_settings, monkeypatch, "export", "--csv", str(out), "--from", day)) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(invoices)
    row = next(r for r in rows if r["number"] == inv["number"])
    assert Decimal(row["total"]) == inv["total"] and row["total"] == format(inv["total"], "f")
    assert f"pdf={hashes[inv['invoice_id']]['pdf']}" in row["documents"]
    assert row["source_events"] == ";".join(f"{s['platform']}:{s['event_id']}" for s in inv["lineage"])
    assert row["deliveries"] == "email=DELIVERED;folder=DELIVERED;register=DELIVERED"
    capsys.readouterr()
    if register_settings.register_dsn is not None:
        assert "postgres@" not in out.read_text()


def test_dsn_password_never_printed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INVOICING_REGISTER_DSN", "postgresql://postgres:pw-must-not-leak@127.0.0.1:1/x")
    assert cli_main(["register", "migrate"]) == 2
    out = capsys.readouterr()
    assert "pw-must-not-leak" not in out.out + out.err and "***" in out.err
