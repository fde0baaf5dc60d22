"""`invoicing demo --console`: after the summary the console serves the demo's data, with the URL and a
generated sign-in printed; Ctrl-C stops the console and then the pipeline it kept running."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.broker import free_port
from sources.registry import SOURCES
from tests.support import REPO

pytestmark = pytest.mark.slow


def test_demo_leaves_the_console_running_on_its_data(bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICING_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    port = free_port()
    out = tmp_path / "stdout.log"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "invoicing", "demo", "--orders", "1", "--bootstrap", bootstrap,
                                 "--output-dir", str(tmp_path / "demo-out"), "--console", "--console-port", str(port)],
                                cwd=str(REPO), env=env, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not re.search(r"sign in as: +demo / \S+", out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.5)
        text = out.read_text()
        assert "result:               OK" in text, "the summary comes first"
        assert f"console:              http://127.0.0.1:{port}/" in text
        password = re.search(r"sign in as: +demo / (\S+)", text).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=30) as client:
            assert client.get("/invoices").status_code == 303, "the demo's console asks for the sign-in too"
            token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
            r = client.post("/login", data={"username": "demo", "password": password, "csrf_token": token})
            assert r.status_code == 303, r.text
            page = client.get("/invoices").text
            assert len(re.findall(r'href="/invoices/inv', page)) == len(SOURCES), "each platform's invoice"
            assert "operator" in page
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, out.read_text()[-3000:]
        assert "console stopped; stopping the pipeline" in out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
