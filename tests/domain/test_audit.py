"""`invoicing audit numbers`: the pure checker on crafted series, and the command on the real broker."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from domain.audit import InvoiceMessage, audit_numbers
from invoicing.audit_cli import numbers_command
from domain.billing import credit_note_draft, issue
from infra.broker import ensure_topics
from invoicing.cli import build_parser
from domain.codec import decode, encode
from domain.reference import Seller
from tests.support import sample_invoice, unique_settings

SELLER = Seller("acme-de", "Acme GmbH", {"country": "DE"}, invoice_prefix="INV")
BASE = sample_invoice(1)
START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def invoice(seq: int, *, order: str | None = None, day: int | None = None, seller: Seller = SELLER,
            **changes: Any) -> dict[str, Any]:
    """An issued invoice number *seq* for order *order* (its own id), issued on day *day* (default: seq)."""
    draft = {**BASE, "orders": [order or f"ord-{seq}"], "invoice_id": f"inv_{order or seq}",
             "series": f"{seller.seller_id}/INVOICE", "seller": {**BASE["seller"], "party_id": seller.seller_id}}
    inv = issue(draft, sequence=seq, issued_at=START + timedelta(days=(seq if day is None else day)), seller=seller)
    inv.update(changes)
    return inv


def msg(inv: dict[str, Any], n: int = 0) -> InvoiceMessage:
    raw = encode("invoice", inv)
    return InvoiceMessage(raw=raw, invoice=decode("invoice", raw), key=inv["invoice_id"].encode(), position=f"0:{n}")


def run(*invoices: dict[str, Any]) -> Any:
    return audit_numbers([msg(inv, n) for n, inv in enumerate(invoices)])


def kinds(report: Any) -> list[str]:
    return [p.kind for p in report.problems]


def test_clean_series() -> None:
    other = Seller("acme-fr", "Acme SAS", {"country": "FR"}, invoice_prefix="INV")
    report = run(*(invoice(q) for q in (3, 1, 2, 4)), invoice(1, seller=other, order="fr-1"))
    assert report.ok, report.text()
    s = report.series["acme-de/INVOICE"]
    assert (s.count, s.first_sequence, s.last_sequence) == (4, 1, 4)
    assert (s.first_number, s.last_number) == ("INV-2026-000001", "INV-2026-000004")
    # two legal entities may both print INV-2026-000001: numbers are unique per series
    assert report.series["acme-fr/INVOICE"].count == 1
    j = report.as_dict()
    assert j["ok"] is True and j["invoices"] == 5 and j["problem_counts"] == {}
    json.dumps(j)


def test_credit_notes_are_their_own_series() -> None:
    inv = invoice(1)
    cn = issue(credit_note_draft(inv, reason="cancelled"), sequence=1, issued_at=START + timedelta(days=3), seller=SELLER)
    report = run(inv, invoice(2), cn)
    assert report.ok, report.text()
    assert set(report.series) == {"acme-de/INVOICE", "acme-de/CREDIT_NOTE"}


def test_hole() -> None:
    report = run(invoice(1), invoice(2), invoice(5), invoice(6), invoice(8))
    assert kinds(report) == ["hole", "hole"]
    assert [p.sequences for p in report.problems] == [(3, 4), (7,)]
    assert "3-4 missing" in report.problems[0].detail
    assert report.series["acme-de/INVOICE"].problems == 2
    assert not report.ok


def test_series_not_starting_at_one_has_a_hole() -> None:
    report = run(invoice(2), invoice(3))
    assert kinds(report) == ["hole"] and report.problems[0].sequences == (1,)


def test_duplicate_number_for_two_invoices() -> None:
    report = run(invoice(1), invoice(2), invoice(2, order="other"), invoice(3))
    assert kinds(report) == ["duplicate"]
    assert report.problems[0].invoice_ids == ("inv_2", "inv_other")
    assert report.problems[0].sequences == (2,)


def test_same_id_resent_byte_identical_is_fine() -> None:
    one, two = invoice(1), invoice(2)
    report = run(one, two, two, one, two)
    assert report.ok, report.text()
    assert (report.messages, report.invoices, report.resent) == (5, 2, 3)
    assert report.series["acme-de/INVOICE"].count == 2


def test_same_id_with_different_bytes_is_an_error() -> None:
    two = invoice(2)
    changed = {**two, "payment_terms": two["payment_terms"] + " (edited)"}
    report = run(invoice(1), two, changed)
    assert kinds(report) == ["resent_different"]
    assert report.problems[0].invoice_ids == ("inv_2",)
    assert report.series["acme-de/INVOICE"].problems == 1


def test_same_id_under_two_numbers_is_an_error() -> None:
    # the order of invoice 2 was numbered again as 3 (a counter replayed behind the table)
    report = run(invoice(1), invoice(2), invoice(3, order="2"))
    assert kinds(report) == ["renumbered"]
    assert report.problems[0].sequences == (2, 3)
    assert "INV-2026-000002" in report.problems[0].detail and "INV-2026-000003" in report.problems[0].detail


def test_issue_date_order() -> None:
    # 3 issued on day 1, before 2 (day 2): a higher number with an earlier date
    report = run(invoice(1, day=1), invoice(2, day=2), invoice(3, day=1), invoice(4, day=2))
    assert kinds(report) == ["date_order"]
    p = report.problems[0]
    assert p.sequences == (2, 3) and p.invoice_ids == ("inv_3",)
    assert "2026-03-03" in p.detail and "2026-03-04" in p.detail
    assert run(invoice(1, day=1), invoice(2, day=1), invoice(3, day=1)).ok  # same day is fine


def test_bad_sequence_undecodable_and_key_mismatch() -> None:
    messages = [msg(invoice(1)), msg(invoice(2)),
                InvoiceMessage(raw=b"garbage", invoice=None, key=b"x", position="1:7", error="unknown framing"),
                InvoiceMessage(raw=encode("invoice", invoice(3)), invoice=decode("invoice", encode("invoice", invoice(3))),
                               key=b"inv_wrong", position="1:8"),
                msg(invoice(0, order="zero"))]
    report = audit_numbers(messages)
    assert sorted(kinds(report)) == ["bad_sequence", "key_mismatch", "undecodable"]
    assert "1:7" in report.text()


def test_parser_has_the_command() -> None:
    args = build_parser().parse_args(["audit", "numbers", "--json", "--bootstrap", "127.0.0.1:1", "--series", "a/INVOICE"])
    assert args.json and args.series == "a/INVOICE" and callable(args.func)


async def test_command_reports_a_hole_on_the_real_broker(bootstrap: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    settings = unique_settings(tmp_path)
    await ensure_topics(settings, bootstrap)
    topic = settings.topic("invoices")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for inv in (invoice(1), invoice(2), invoice(2), invoice(4)):  # 2 re-sent identical, 3 missing
            await producer.send_and_wait(topic, encode("invoice", inv), key=inv["invoice_id"].encode())
    finally:
        await producer.stop()

    assert await numbers_command(settings, bootstrap, as_json=True) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["messages"] == 4 and out["invoices"] == 3 and out["resent"] == 1
    assert out["problem_counts"] == {"hole": 1}
    assert out["problems"][0]["sequences"] == [3] and out["problems"][0]["series"] == "acme-de/INVOICE"
    assert out["series"][0]["first_number"] == "INV-2026-000001" and out["series"][0]["last_number"] == "INV-2026-000004"

    assert await numbers_command(settings, bootstrap, as_json=False) == 1
    text = capsys.readouterr().out
    assert "HOLE: acme-de/INVOICE: sequence 3 missing" in text

    # filling the hole makes the series clean
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode("invoice", invoice(3)), key=b"inv_3")
    finally:
        await producer.stop()
    assert await numbers_command(settings, bootstrap, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_cli_exit_codes(bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`invoicing audit numbers` as the console script runs it: 0 clean, 1 problems, 2 no topic."""
    import asyncio

    from invoicing.cli import main

    settings = unique_settings(tmp_path)
    argv = ["audit", "numbers", "--bootstrap", bootstrap, "--topic-prefix", settings.topic_prefix]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err

    async def produce(*invoices: dict[str, Any]) -> None:
        await ensure_topics(settings, bootstrap)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        try:
            for inv in invoices:
                await producer.send_and_wait(settings.topic("invoices"), encode("invoice", inv), key=inv["invoice_id"].encode())
        finally:
            await producer.stop()

    asyncio.run(produce(invoice(1), invoice(2)))
    assert main(argv) == 0
    assert "numbering OK" in capsys.readouterr().out
    asyncio.run(produce(invoice(2, order="dup")))
    assert main([*argv, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problem_counts"] == {"duplicate": 1}
