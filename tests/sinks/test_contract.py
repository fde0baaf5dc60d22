"""One contract, run over every registered sink (STYLE.md §5).

Each HTTP target has a stand-in in tests/fakes/targets/<target>.py (``make_fake()``)
that checks what it receives against the platform's published shape. A target
is done when it passes this suite without the suite being edited.
"""
from __future__ import annotations

import importlib
import os

import pkgutil
from pathlib import Path
from typing import Any, Iterator

from decimal import Decimal

import httpx
import pytest

import sinks
from domain.errors import AuthError, ConfigError, FatalSinkError, RetriableSinkError
from domain.settings import Settings, platform_env_prefix, platform_settings
from sinks.base import Sink
from sinks.delivery import deliver
from sinks.registry import SINKS
from demo.samples.invoices import demo_reference
from tests.fakes.target_base import Booked
from tests.support import REPO, sample_invoice, deliver_invoice_and_note

TARGETS = sorted(SINKS)
HTTP_TARGETS = [t for t in TARGETS if t not in ("folder",) and getattr(SINKS[t], "uses_http", True)]
NON_CONNECTOR_MODULES = {"base", "registry", "delivery", "credentials", "mapping", "resilience"}


def test_every_sink_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(Path(sinks.__file__).parent)])} - NON_CONNECTOR_MODULES
    registered = {cls.__module__.split(".")[1] for cls in SINKS.values()}  # sinks.<module> or sinks.<package>.…
    assert modules <= registered, f"unregistered sink modules: {modules - registered}"


def test_every_http_target_has_a_fake() -> None:
    for target in HTTP_TARGETS:
        importlib.import_module(f"tests.fakes.targets.{target.replace('-', '_')}").make_fake


@pytest.fixture
def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    target = request.param
    module = importlib.import_module(f"tests.fakes.targets.{target.replace('-', '_')}")
    f = module.make_fake()
    for k, v in f.env().items():
        monkeypatch.setenv(k, v)
    try:
        yield f
    finally:
        f.close()


def make_sink(target: str, **overrides: Any) -> Sink:
    cls = SINKS[target]
    pipeline = Settings(sink_timeout=overrides.pop("sink_timeout", 2.0), sink_backoff_base=0.01,
                        sink_backoff_max=0.05, sink_max_attempts=overrides.pop("sink_max_attempts", 3), **overrides)
    return cls(platform_settings(target, cls.settings_class), httpx.AsyncClient(timeout=pipeline.sink_timeout), pipeline)


#: the targets that need no INVOICING_<TARGET>_* variable at all (the folder has a default, the register uses
#: the pipeline's DSN); every other one names what it lacks when it is built
NEEDS_NO_VARIABLES = {"folder", "register"}


def _offline_client(calls: list[httpx.Request]) -> httpx.AsyncClient:
    """A client that records every request and answers none: building a sink must send nothing."""

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise AssertionError(f"a sink sent {request.method} {request.url} while it was being built")

    return httpx.AsyncClient(transport=httpx.MockTransport(refuse))


@pytest.mark.parametrize("target", TARGETS)
async def test_unconfigured_target_is_refused_at_construction_naming_its_variables(
        target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = platform_env_prefix(target)
    for name in [k for k in os.environ if k.startswith(prefix)]:
        monkeypatch.delenv(name)
    cls, calls = SINKS[target], list[httpx.Request]()
    async with _offline_client(calls) as client:
        try:
            cls(platform_settings(target, cls.settings_class), client, Settings())
        except ConfigError as exc:
            assert target not in NEEDS_NO_VARIABLES, f"{target} needs no variable, yet: {exc}"
            assert prefix in str(exc), f"{target}: the error names no {prefix}* variable: {exc}"
        else:
            assert target in NEEDS_NO_VARIABLES, f"{target} was built with no {prefix}* variable set"
    assert not calls


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_configured_target_is_built_without_a_network_call(fake: Any) -> None:
    cls, calls = SINKS[fake.target], list[httpx.Request]()
    async with _offline_client(calls) as client:
        sink = cls(platform_settings(fake.target, cls.settings_class), client, Settings())
    assert sink.auth is not None and not calls and not fake.requests


def test_email_is_built_from_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_EMAIL_HOST", "smtp.example.org")
    cls = SINKS["email"]
    cls(platform_settings("email", cls.settings_class), httpx.AsyncClient(), Settings())


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_same_invoice_twice_creates_one(fake: Any) -> None:
    sink = make_sink(fake.target)
    inv = fake.adopt(sample_invoice(7, targets=(fake.target,)))
    try:
        first = await deliver(sink, inv, sink.pipeline)
        second = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert first.status == "DELIVERED", first.detail
    assert second.status == "ALREADY_PRESENT", second.detail
    assert first.external_id and first.external_id == second.external_id
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_crash_after_accept_does_not_duplicate(fake: Any) -> None:
    """The target accepted, our receipt was lost: a fresh sink (a restarted worker) finds it."""
    inv = fake.adopt(sample_invoice(8, targets=(fake.target,)))
    sink = make_sink(fake.target)
    try:
        await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    again = make_sink(fake.target)
    try:
        result = await deliver(again, inv, again.pipeline)
    finally:
        await again.close()
    assert result.status == "ALREADY_PRESENT"
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
@pytest.mark.parametrize("status,error", [(429, RetriableSinkError), (503, RetriableSinkError), (500, RetriableSinkError),
                                          (401, AuthError), (403, AuthError), (400, FatalSinkError), (422, FatalSinkError)])
async def test_errors_map_onto_the_error_tree(fake: Any, status: int, error: type[Exception]) -> None:
    sink = make_sink(fake.target)
    inv = fake.adopt(sample_invoice(9, targets=(fake.target,)))
    fake.fail(status, times=10)
    try:
        with pytest.raises(error):
            await sink.find_invoice(inv, inv["invoice_id"])
            await sink.create_invoice(inv, inv["invoice_id"])
    finally:
        await sink.close()
    assert not fake.created


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_retries_honour_retry_after_then_deliver(fake: Any) -> None:
    sink = make_sink(fake.target, sink_max_attempts=4)
    inv = fake.adopt(sample_invoice(10, targets=(fake.target,)))
    fake.fail(429, times=1, retry_after=0)
    fake.fail(503, times=1)
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "DELIVERED", result.detail
    assert result.attempts == 3
    assert len(fake.created) == 1


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_timeout_then_parked_not_dropped(fake: Any) -> None:
    sink = make_sink(fake.target, sink_timeout=0.3, sink_max_attempts=2)
    inv = fake.adopt(sample_invoice(11, targets=(fake.target,)))
    fake.hang(1.0, times=50)
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "PARKED" and result.retriable
    assert "timed out" in (result.detail or "")


async def test_folder_sink_writes_once(tmp_path: Path) -> None:
    from sinks.folder import FolderSink

    sink = FolderSink(platform_settings("folder"), httpx.AsyncClient(), Settings(output_dir=tmp_path))
    inv = sample_invoice(3)
    first = await deliver(sink, inv, sink.pipeline)
    second = await deliver(sink, inv, sink.pipeline)
    await sink.close()
    assert (first.status, second.status) == ("DELIVERED", "ALREADY_PRESENT")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{inv['number']}.{ext}" for ext in ("json", "pdf", "xml"))
    assert (tmp_path / f"{inv['number']}.pdf").read_bytes().startswith(b"%PDF")
    other = dict(inv, invoice_id="inv_other")
    result = await deliver(FolderSink(platform_settings("folder"), httpx.AsyncClient(), Settings(output_dir=tmp_path)), other,
                           Settings(output_dir=tmp_path))
    assert result.status == "PARKED", "a number already used by another invoice is never overwritten"



#: invoices of every tax treatment the demo's reference data produces: S 19 % (five lines), K and AE
#: (intra-EU goods and services), G (export, EUR), US sales tax S 6.25 %, E (resale certificate), G in JPY,
#: and three lines of 0.13 at 19 % (tax rounded per line, 0.06, is not the group's 0.07)
TAX_CASES = {"S19": dict(n=7), "K+AE": dict(n=2), "G": dict(n=3), "US-S": dict(n=5), "E": dict(n=6),
             "JPY-G": dict(n=8), "rounding": dict(n=4, lines=[("KS-FLT-01", "1", "0.13")] * 3)}


def _booked(fake: Any, external_id: str | None) -> Booked:
    assert external_id, "the sink returned no external id"
    assert external_id in fake.booked, f"{fake.target}: nothing booked under {external_id!r} (booked: {sorted(fake.booked)})"
    return fake.booked[external_id]  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", sorted(TAX_CASES))
@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_tax_reaches_the_target_as_tax_to_the_cent(fake: Any, case: str) -> None:
    """The target's books show our tax as tax (never a revenue line) and our total, to the cent."""
    inv = fake.adopt(sample_invoice(targets=(fake.target,), **TAX_CASES[case]))  # type: ignore[arg-type]
    sink = make_sink(fake.target)
    try:
        result = await deliver(sink, inv, sink.pipeline)
    finally:
        await sink.close()
    if case == "rounding" and SINKS[fake.target].rounds_tax_per_line:
        # the target would book 0.06 where we issued 0.07: refused with the reason, nothing booked
        assert result.status == "PARKED" and not result.retriable, result
        assert "0.06" in (result.detail or "") and "0.07" in (result.detail or "") and not fake.booked, \
            (result.detail, fake.booked)
        return
    assert result.status == "DELIVERED", result.detail
    booked = _booked(fake, result.external_id)
    assert booked.kind == "invoice"
    assert (booked.tax, booked.total) == (inv["tax_total"], inv["total"]), \
        f"{fake.target} books tax {booked.tax} and total {booked.total}; we issued {inv['tax_total']} and {inv['total']}"


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
def test_the_target_can_book_every_tax_the_reference_data_produces(fake: Any) -> None:
    """With the stand-in's settings, nothing is missing; a target that maps taxes to its own codes
    names a missing one (the worker refuses to start on it)."""
    sink = make_sink(fake.target)
    assert sink.tax_mapping_gaps(demo_reference().possible_taxes()) == []
    unheard_of = {("S", Decimal("12.3400"))}
    gaps = sink.tax_mapping_gaps(unheard_of)
    assert gaps == [] or any("12.34" in g for g in gaps), gaps


@pytest.mark.parametrize("fake", HTTP_TARGETS, indirect=True)
async def test_credit_note_is_booked_and_linked_to_the_targets_invoice(fake: Any) -> None:
    """Through the target's own credit-note mechanism, linked or allocated to the target's id of the
    invoice, once however often it is delivered; or the target is documented as having none."""
    inv = fake.adopt(sample_invoice(13, targets=(fake.target,)))
    note = dict(sample_invoice(13, targets=(fake.target,), document_type="CREDIT_NOTE"),
                lineage=inv["lineage"], orders=inv["orders"])
    assert note["preceding_invoice_id"] == inv["invoice_id"]
    first, credited, again = await deliver_invoice_and_note(make_sink(fake.target), inv, note)
    assert first.status == "DELIVERED", first.detail
    if SINKS[fake.target].no_credit_notes:
        assert credited.status == again.status == "NOT_APPLICABLE"
        assert fake.target in _readme_targets_without_credit_notes()
        assert not [b for b in fake.booked.values() if b.kind == "credit_note"]
        return
    assert credited.status == "DELIVERED", credited.detail
    assert again.status == "ALREADY_PRESENT" and again.external_id == credited.external_id, again.detail
    booked = _booked(fake, credited.external_id)
    assert booked.kind == "credit_note"
    assert booked.linked_to == first.external_id, f"linked to {booked.linked_to!r}, the invoice is {first.external_id!r}"
    assert (booked.tax, booked.total) == (note["tax_total"], note["total"])
    assert sum(1 for b in fake.booked.values() if b.kind == "credit_note") == 1


@pytest.mark.parametrize("fake", [t for t in HTTP_TARGETS if not SINKS[t].no_credit_notes], indirect=True)
async def test_a_credit_note_waits_for_its_invoice_at_the_target(fake: Any) -> None:
    """Before the invoice is there, the credit note is retried, then parked for replay: never booked unlinked."""
    note = fake.adopt(sample_invoice(16, targets=(fake.target,), document_type="CREDIT_NOTE"))
    sink = make_sink(fake.target, sink_max_attempts=2)
    try:
        result = await deliver(sink, note, sink.pipeline)
    finally:
        await sink.close()
    assert result.status == "PARKED" and result.retriable, result
    assert "not at" in (result.detail or "")
    assert not [b for b in fake.booked.values() if b.kind == "credit_note"]


def _readme_targets_without_credit_notes() -> set[str]:
    """Targets the README's "Credit notes" table lists as having none (with the vendor's documentation)."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Targets without credit notes", 1)[1].split("\n#", 1)[0]
    return {row.split("|")[1].strip() for row in section.splitlines() if row.startswith("| ") and "http" in row}


def test_every_target_without_credit_notes_cites_the_vendor() -> None:
    for target, cls in SINKS.items():
        if cls.no_credit_notes:
            assert "http" in cls.no_credit_notes, f"{target}: cite the vendor's documentation"
            assert target in _readme_targets_without_credit_notes(), f"{target} missing from the README's table"
