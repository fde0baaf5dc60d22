"""Fixtures for the console: the console as a child process (`invoicing console`), users made with
`invoicing console add-user`, and Debian's Chromium driven by Playwright.

Chromium and Playwright are required, not optional: without them the browser tests fail and
say to run ``.ci/run``, which installs both (``apt-get install chromium``, the ``test`` extras).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

import httpx
import pytest

from infra.broker import free_port
from domain.settings import Settings
from tests.support import REPO, settings_env

CHROMIUM = "/usr/bin/chromium"
#: as the machine notes say: no background traffic (the network is closed), no GPU, no sandbox as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS_DIR")


def console_env(settings: Settings, bootstrap: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICING_")}
    return {**env, **settings_env(settings, bootstrap), **dict(extra or {})}


def add_user(settings: Settings, bootstrap: str, name: str, role: str, password: str,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`invoicing console add-user NAME --role ROLE`, the password on standard input (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "invoicing", "console", "add-user", name, "--role", role],
                          input=password + "\n", capture_output=True, text=True, timeout=60, cwd=str(REPO),
                          env=console_env(settings, bootstrap, env))


class ConsoleProcess:
    """`invoicing console --port N` in a child process, as an operator runs it."""

    def __init__(self, settings: Settings, bootstrap: str, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None) -> None:
        self.settings, self.bootstrap, self.env = settings, bootstrap, dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or settings.output_dir.parent / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "ConsoleProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "invoicing", "console", "--port", str(self.port)],
                                     env=console_env(self.settings, self.bootstrap, self.env), cwd=str(REPO),
                                     stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the console exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the console did not answer within {timeout} s: {self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Headless Debian Chromium (a fresh profile per launch), driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium. Run .ci/run "
                    "(it installs it), or apt-get install -y chromium chromium-driver.")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: run .ci/run (it installs the test extras), or "
                    "pip install -e '.[test]'. Never run `playwright install`: the tests use /usr/bin/chromium.")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def sign_in(browser: Any, base: str, name: str, password: str, *, javascript: bool = True) -> Any:
    """A new browser context (*javascript* off: as a browser without it) signed in as *name*; returns its page
    (on the invoices page)."""
    context = await browser.new_context(base_url=base, accept_downloads=True, viewport={"width": 1366, "height": 900},
                                        java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto("/invoices")
    assert re.search(r"/login\?next=", page.url), f"not sent to sign in: {page.url}"
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/invoices$"))
    return page


async def csrf_of(page: Any) -> str:
    token: str = await page.get_attribute("meta[name=csrf-token]", "content")
    return token


async def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """A PNG of the page, ``console-NAME.png``: into $CONSOLE_SCREENSHOTS_DIR when set (``docs/img``, for the
    README: ``CONSOLE_SCREENSHOTS_DIR=docs/img .venv/bin/python -m pytest tests/invoicing/console``), else *tmp_path*."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"console-{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


async def reload_until(page: Any, selector: str, timeout: float = 60.0) -> Any:
    """Reload *page* until *selector* is on it; returns the first match."""
    deadline = time.monotonic() + timeout
    while True:
        found = await page.query_selector(selector)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector!r} not on {page.url} within {timeout} s:\n{(await page.inner_text('main'))[:2000]}")
        await page.wait_for_timeout(700)
        await page.reload()
