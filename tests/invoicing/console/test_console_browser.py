"""The console in headless Chromium, over a real pipeline: the session's broker, a worker process, a
real gateway taking signed Shopify webhooks, the register in SQLite, and `invoicing console` itself
as a child process, with users made by `invoicing console add-user`.

Reference data routes: Brauerei Albrecht (C-1001) → [register]; Van Dijk (C-1003) → [register, folder],
where the folder target's directory cannot be made (a file is in its way), so its deliveries park until
the file is gone and they are replayed; Metallbau Steiner (C-1005) is billed on a monthly cycle, which
stays open until an operator closes it. Shopify sample order n belongs to sample customer n % 9.
"""
from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
import yaml
from pydantic import SecretStr
from pypdf import PdfReader

from infra.broker import ensure_topics
from infra.reference_store import publish_reference
from demo.samples import shopify as shop
from domain.settings import PlatformSettings, Settings
from sources.shopify import Shopify
from tests.invoicing.console.conftest import ConsoleProcess, add_user, csrf_of, reload_until, screenshot, sign_in
from tests.support import REPO, WorkerProcess, running_gateway, unique_settings

pytestmark = pytest.mark.slow

SECRET = "console-shopify-secret"
OPERATOR, VIEWER = ("olga", "olga's long password 1"), ("victor", "victor's long password 2")
ALBRECHT, VAN_DIJK, STEINER = 0, 2, 4  # Shopify sample orders of C-1001, C-1003 and C-1005
VAN_DIJK_AGAIN = 11  # a second order of C-1003: its parked delivery stays parked (only one is replayed)


@dataclass
class Rig:
    settings: Settings
    bootstrap: str
    console: ConsoleProcess
    worker: WorkerProcess
    blocker: Path

    @property
    def url(self) -> str:
        return self.console.url

    def logs(self) -> str:
        return f"--- worker ---\n{self.worker.log()[-3000:]}\n--- console ---\n{self.console.log()[-3000:]}"


def write_reference(tmp_path: Path) -> Path:
    data = yaml.safe_load((REPO / "demo" / "data" / "reference.yaml").read_text(encoding="utf-8"))
    data["defaults"]["targets"] = ["register"]
    for customer in data["customers"]:
        if customer["customer_id"] == "C-1003":
            customer["targets"] = ["register", "folder"]
        if customer["customer_id"] == "C-1005":
            customer["invoice_policy"] = "CYCLE"
            customer["billing_cycle"] = {"frequency": "monthly", "day": 1, "timezone": "Europe/Berlin"}
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
async def rig(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("console")
    settings = unique_settings(tmp, sink_max_attempts=2)
    await ensure_topics(settings, bootstrap)
    await publish_reference(settings, bootstrap, write_reference(tmp))
    blocker = tmp / "blocked"
    blocker.write_text("a file where the folder target's directory should be")
    worker = WorkerProcess(settings, bootstrap, env={"INVOICING_FOLDER_BASE_URL": str(blocker / "invoices"),
                                                      "INVOICING_REGISTER_RECEIPTS": "true",
                                                      "INVOICING_CYCLE_CHECK_INTERVAL": "3600"}).start()
    source = Shopify(PlatformSettings(secret=SecretStr(SECRET)))
    console: ConsoleProcess | None = None
    try:
        async with running_gateway(settings, bootstrap, {"shopify": source}) as gateway:
            env = {"INVOICING_CONSOLE_WORKER_METRICS_URLS": f'["http://127.0.0.1:{worker.metrics_port}/metrics"]',
                   "INVOICING_CONSOLE_GATEWAY_METRICS_URLS": f'["{gateway}/metrics"]'}
            for (name, password), role in ((OPERATOR, "operator"), (VIEWER, "viewer")):
                done = add_user(settings, bootstrap, name, role, password, env)
                assert done.returncode == 0 and f"added {role} {name}" in done.stdout, done.stderr
            console = ConsoleProcess(settings, bootstrap, env).start()
            at = datetime.now(timezone.utc)
            async with httpx.AsyncClient(base_url=gateway, timeout=20) as client:
                for n in (ALBRECHT, VAN_DIJK, STEINER, VAN_DIJK_AGAIN):
                    for req in shop.order(n, random.Random(n), SECRET, at).requests:
                        r = await client.post(req.path, content=req.body, headers=dict(req.headers))
                        assert r.status_code == 200, r.text
            yield Rig(settings, bootstrap, console, worker, blocker)
    finally:
        if console is not None:
            console.stop()
        worker.stop()


async def test_sign_in_find_an_issued_invoice_and_open_its_pdf(rig: Rig, browser: Any, tmp_path: Path) -> None:
    page = await sign_in(browser, rig.url, *OPERATOR)
    await page.fill("input[name=customer]", "Albrecht")
    await page.click("form.filters button[type=submit]")
    # the unfiltered list already has links: wait until the search is in the address (htmx pushes it, so a link to
    # the search works without JavaScript), so the link found below is one of the search's results
    await page.wait_for_url(re.compile(r"customer=Albrecht"))
    link = await reload_until(page, "#results a[href^='/invoices/inv']")
    assert "customer=Albrecht" in page.url, "the search is in the address (a link to it works without JavaScript)"
    number = (await link.inner_text()).strip()
    assert re.fullmatch(r"INV-\d{4}-\d{6}", number), number
    await screenshot(page, "invoices", tmp_path)
    await link.click()
    await page.wait_for_selector("h1")
    assert number in await page.inner_text("h1")
    main = await page.inner_text("main")
    for expected in ("Brauerei Albrecht KG", "shopify", "PAYMENT_RECEIVED", "Tax breakdown", "Amount due", "register"):
        assert expected in main, f"{expected!r} not on the invoice page"
    # the register records its receipt a moment after the invoice; the deliveries table refreshes itself (htmx)
    await page.wait_for_selector("tr[data-target=register] .status-delivered", timeout=30_000)
    await screenshot(page, "invoice", tmp_path)
    async with page.expect_download() as download_info:
        await page.click("a:has-text('PDF')")
    download = await download_info.value
    pdf = Path(await download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert number in text and "Brauerei Albrecht KG" in text
    async with page.expect_download() as download_info:
        await page.click("a:has-text('UBL')")
    ubl = Path(await (await download_info.value).path()).read_bytes()
    assert b"<cbc:ID>" + number.encode() + b"</cbc:ID>" in ubl
    await page.context.close()


async def test_a_parked_delivery_is_replayed_and_its_receipt_turns_delivered(rig: Rig, browser: Any,
                                                                             tmp_path: Path) -> None:
    page = await sign_in(browser, rig.url, *OPERATOR)
    await page.goto("/dead-letters")
    await reload_until(page, "tr[data-position]:has-text('deliver:folder') >> nth=1")
    row = page.locator("tr[data-position]:has-text('deliver:folder')").first
    assert re.search(r"retries exhausted: cannot (read|write) \S+/blocked/invoices", await row.inner_text()), \
        "the reason says what failed, and where"
    await screenshot(page, "dead-letters", tmp_path)
    invoice_link = row.locator("a[href^='/invoices/']")
    number = (await invoice_link.inner_text()).strip()
    invoice_url = await invoice_link.get_attribute("href")
    await page.goto(invoice_url)  # the PARKED receipt reaches the register a moment after the dead letter
    await page.wait_for_selector("tr[data-target=folder] .status-parked", timeout=30_000)
    assert "blocked/invoices" in await page.inner_text("tr[data-target=folder]"), "the receipt shows the last error"

    rig.blocker.unlink()  # the folder target can be written again
    await page.goto("/dead-letters")
    row = page.locator(f"tr[data-position]:has(a:text-is('{number}'))")
    position = await row.get_attribute("data-position")
    await row.locator("button.replay").click()  # htmx brings the confirmation in
    confirm = page.locator("#confirm-replay")
    await confirm.wait_for()
    assert "Yes, replay 1" in await confirm.inner_text()
    await confirm.click()
    result = page.locator("#replay-result")
    await result.wait_for()
    assert "Replayed 1 dead letter(s): dead letter " + str(position) in await result.inner_text()

    await page.goto(invoice_url)  # the deliveries table refreshes itself (htmx) until every target has it
    await page.wait_for_selector("tr[data-target=folder] .status-delivered", timeout=60_000)
    assert await page.locator("tr[data-target=folder] .status-delivered").count() == 1, rig.logs()
    assert (rig.settings.output_dir.parent / "blocked" / "invoices" / f"{number}.pdf").exists()

    await page.goto("/dead-letters?show=all")
    assert "replayed" in await page.inner_text(f"tr[data-position='{position}']")
    await page.goto("/audit")
    audit = await page.inner_text("#audit")
    assert re.search(rf"olga\s+operator\s+replay\s+dead letter {position}\s+ok", audit), audit
    await page.context.close()


async def test_close_a_cycle_and_see_its_invoice(rig: Rig, browser: Any, tmp_path: Path) -> None:
    page = await sign_in(browser, rig.url, *OPERATOR)
    await page.goto("/cycles")
    row = await reload_until(page, "tr[data-customer='C-1005']")
    text = await row.inner_text()
    assert "Metallbau Steiner GmbH" in text and re.search(r"\b1\b", text) and "EUR" in text, text
    await screenshot(page, "cycles", tmp_path)
    await page.click("tr[data-customer='C-1005'] button:has-text('Close now')")
    await page.wait_for_selector("#close-result")
    await page.click("#close-result a")
    link = await reload_until(page, "#results a[href^='/invoices/inv']")
    await link.click()
    await page.wait_for_selector("h1")
    main = await page.inner_text("main")
    assert "Metallbau Steiner GmbH" in main and "CYCLE_END" in main, main
    await page.goto("/cycles")
    assert await page.locator("tr[data-customer='C-1005']").count() == 0, "the cycle is no longer open"
    await page.goto("/audit")
    assert re.search(r"olga\s+operator\s+close-cycle\s+cycle M\S+ of customer C-1005\s+ok", await page.inner_text("#audit"))
    await page.context.close()


async def test_a_viewer_sees_no_replay_button_and_their_post_is_refused(rig: Rig, browser: Any) -> None:
    operator = await sign_in(browser, rig.url, *OPERATOR)
    await operator.goto("/dead-letters")
    await reload_until(operator, "tr[data-position] button.replay")  # there is something an operator could replay
    position = await operator.locator("tr[data-position]:has(button.replay)").first.get_attribute("data-position")
    await operator.context.close()

    page = await sign_in(browser, rig.url, *VIEWER)
    await page.goto("/dead-letters")
    assert await page.locator(f"tr[data-position='{position}']").count() == 1, "the viewer sees the dead letter"
    assert await page.locator("button.replay").count() == 0, "but no replay button"
    assert await page.locator("text=Replay target").count() == 0
    await page.goto("/cycles")
    assert await page.locator("button:has-text('Close now')").count() == 0
    await page.goto("/invoices")
    first = page.locator("#results a[href^='/invoices/inv']").first
    invoice_url = await first.get_attribute("href")
    await page.goto(invoice_url)
    assert await page.locator("a:has-text('Re-send')").count() == 0
    token = await csrf_of(page)
    for path, form in (("/dead-letters/replay", {"position": position}), ("/cycles/close", {"customer": "C-1005", "cycle": "x"}),
                       (f"{invoice_url}/resend", {"target": "register"})):
        r = await page.request.post(path, form={**form, "csrf_token": token}, max_redirects=0)
        assert r.status == 403, (path, r.status)
        assert "viewer" in await r.text()
    await page.goto("/dead-letters")
    assert "waiting" in await page.inner_text(f"tr[data-position='{position}']"), "nothing was replayed"
    await page.goto("/audit")
    assert re.search(r"victor\s+viewer\s+replay\s+/dead-letters/replay\s+refused", await page.inner_text("#audit"))
    await page.context.close()


async def test_unauthenticated_pages_are_sent_to_sign_in(rig: Rig, browser: Any) -> None:
    context = await browser.new_context(base_url=rig.url)
    page = await context.new_page()
    for path in ("/", "/invoices", "/invoices/inv_x", "/invoices/inv_x/pdf", "/dead-letters", "/dead-letters/confirm?target=folder",
                 "/cycles", "/health", "/numbering", "/audit", "/register/", "/register/invoice-row/list"):
        await page.goto(path)
        assert re.search(r"/login\?next=", page.url), (path, page.url)
        assert await page.locator("input[name=password]").count() == 1
    for path in ("/dead-letters/replay", "/cycles/close", "/invoices/inv_x/resend", "/logout"):
        r = await page.request.post(path, form={"target": "folder"}, max_redirects=0)
        assert r.status == 403, (path, r.status)
    await context.close()


async def test_a_post_without_the_csrf_token_is_refused(rig: Rig, browser: Any) -> None:
    page = await sign_in(browser, rig.url, *OPERATOR)
    other = await sign_in(browser, rig.url, *OPERATOR)
    foreign = await csrf_of(other)
    form = {"stage": "deliver:folder"}
    assert (await page.request.post("/dead-letters/replay", form=form, max_redirects=0)).status == 403
    r = await page.request.post("/dead-letters/replay", form={**form, "csrf_token": foreign}, max_redirects=0)
    assert r.status == 403 and "CSRF" in await r.text(), "another session's token is not this one's"
    r = await page.request.post("/dead-letters/replay", form=form, headers={"X-CSRF-Token": "forged"}, max_redirects=0)
    assert r.status == 403
    # the same request with this session's token is taken (nothing matches this stage now: 0 replayed)
    r = await page.request.post("/cycles/close", form={"customer": "nobody", "cycle": "M2000-01-01",
                                                        "csrf_token": await csrf_of(page)}, max_redirects=0)
    assert r.status == 409 and "has no open cycle" in await r.text()
    await page.context.close()
    await other.context.close()


async def test_health_and_numbering_audit(rig: Rig, browser: Any, tmp_path: Path) -> None:
    page = await sign_in(browser, rig.url, *VIEWER)
    await page.goto("/health")
    shopify = await page.inner_text("tr:has(td:text-is('shopify'))")
    assert "ago" in shopify and re.search(r"\b[1-9]\d*\b", shopify), shopify
    assert await page.locator("tr:has(td:text-is('register'))").count() == 1
    assert "not reachable" not in await page.inner_text("main"), "the worker's and gateway's /metrics were read"
    await screenshot(page, "health", tmp_path)
    await page.goto("/numbering")
    result = await page.inner_text("#numbering-result")
    assert result.startswith("Numbering OK"), result
    assert "kompressor-de/INVOICE" in await page.inner_text("main")
    await page.context.close()


async def test_resend_an_invoice_to_one_target(rig: Rig, browser: Any) -> None:
    page = await sign_in(browser, rig.url, *OPERATOR)
    await page.goto("/dead-letters")
    row = await reload_until(page, "tr[data-position]:has-text('deliver:folder'):has-text('waiting')")
    invoice_url = await (await row.query_selector("a[href^='/invoices/']")).get_attribute("href")
    if rig.blocker.is_file():  # the replay test has removed it already when the module runs as a whole
        rig.blocker.unlink()  # the folder target can be written again
    await page.goto(invoice_url)
    number = (await page.inner_text("h1")).split()[1]
    await page.wait_for_selector("tr[data-target=folder] .status-parked", timeout=30_000)
    await page.click("tr[data-target=folder] a:has-text('Re-send')")
    assert f"Re-send {number} to folder?" in await page.inner_text("h1")
    await page.click("button:has-text('Re-send to folder')")
    assert "is on its way to folder again" in await page.inner_text("main")
    await page.wait_for_selector("tr[data-target=folder] .status-delivered", timeout=60_000)
    assert (rig.settings.output_dir.parent / "blocked" / "invoices" / f"{number}.pdf").exists(), rig.logs()
    await page.goto("/audit")
    assert re.search(rf"olga\s+operator\s+re-send\s+invoice {number} to folder\s+ok", await page.inner_text("#audit"))
    await page.context.close()


async def test_reading_works_without_javascript(rig: Rig, browser: Any) -> None:
    page = await sign_in(browser, rig.url, *VIEWER, javascript=False)
    await page.fill("input[name=customer]", "C-1001")
    await page.click("form.filters button[type=submit]")  # a plain GET form: the server answers with the results
    await page.wait_for_url(re.compile(r"customer=C-1001"))  # the answer, not the unfiltered list before it
    link = await reload_until(page, "#results a[href^='/invoices/inv']")
    assert "customer=C-1001" in page.url
    number = (await link.inner_text()).strip()
    await link.click()
    await page.wait_for_selector("h1")
    assert number in await page.inner_text("h1") and "Brauerei Albrecht KG" in await page.inner_text("main")
    await page.goto("/dead-letters")
    assert await page.locator("tr[data-position]").count() >= 1, "dead letters read without JavaScript too"
    await page.context.close()
