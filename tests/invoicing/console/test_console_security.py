"""The console's security without a broker or a browser: every POST route refuses a request without the
CSRF token and a viewer's, cookies carry HttpOnly, SameSite and (behind TLS) Secure, sign-ins are
rate-limited per user and per address, passwords are argon2 hashes, `invoicing console add-user` reads
the password from standard input, every action is in the audit table; once on the real PostgreSQL."""
from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.routing import Route
from starlette.testclient import TestClient

from invoicing.cli import main as cli_main
from invoicing.console.accounts import audit_entries, authenticate, console_users, create_user, ConsoleUserError
from invoicing.console.app import create_app
from invoicing.console.auth import LoginLimiter
from invoicing.console.config import ConsoleSettings
from invoicing.console_cli import read_password
from sinks.register import record_invoice
from sinks.register.engine import dispose_all
from domain.settings import Settings
from tests.register_fixtures import PG_DSN, _drop_schema, _postgres_answers
from tests.support import sample_invoice

PASSWORD = "a long enough password"
BROKER = "127.0.0.1:9"  # nothing listens there: these tests never reach a broker


def register_settings(tmp_path: Path) -> Settings:
    return Settings(register_path=tmp_path / "register.db", output_dir=tmp_path / "out", metrics_port=0)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    app = create_app(register_settings(tmp_path), BROKER, ConsoleSettings(login_attempts=3, login_window=60))
    engine = app.state.console.engine
    create_user(engine, "olga", "operator", PASSWORD)
    create_user(engine, "victor", "viewer", PASSWORD)
    record_invoice(engine, sample_invoice(1, targets=("register",)))
    yield app
    dispose_all()


def token(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert found, "every page carries the session's CSRF token"
    return found.group(1)


def signed_in(app: Any, name: str, **client_args: Any) -> TestClient:
    client = TestClient(app, follow_redirects=False, **client_args)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token(client)})
    assert r.status_code == 303, r.text
    return client


def post_routes(app: Any) -> list[str]:
    return sorted({r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or set())})


def test_every_post_route_is_an_action_that_checks_the_csrf_token(app: Any) -> None:
    routes = post_routes(app)
    assert {"/login", "/logout", "/dead-letters/replay", "/cycles/close", "/invoices/{invoice_id}/resend"} <= set(routes)
    client = signed_in(app, "olga")
    for path in routes:
        url = path.replace("{invoice_id}", "inv_x")
        assert client.post(url, data={"target": "register"}).status_code == 403, url
        assert client.post(url, data={"csrf_token": "forged"}).status_code == 403, url
        other = TestClient(app, follow_redirects=False)
        assert client.post(url, data={"csrf_token": token(other)}).status_code == 403, f"{url}: another session's token"
    refused = [e for e in audit_entries(app.state.console.engine) if e.result == "refused"]
    assert {e.action for e in refused} >= {"replay", "close-cycle", "re-send", "sign-out"}


def test_a_viewer_may_not_act(app: Any) -> None:
    client = signed_in(app, "victor")
    csrf = token(client, "/invoices")
    for path in ("/dead-letters/replay", "/cycles/close", "/invoices/inv_x/resend"):
        r = client.post(path, data={"csrf_token": csrf, "position": "0:0", "customer": "C", "cycle": "M", "target": "x"})
        assert r.status_code == 403 and "viewer" in r.text, path
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303, "but may sign out"
    assert [e.result for e in audit_entries(app.state.console.engine, username="victor")][:4] == ["refused"] * 3 + ["ok"]


def test_without_a_session_every_page_sends_to_sign_in(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    for path in ("/", "/invoices", "/dead-letters", "/cycles", "/health", "/numbering", "/audit", "/register/",
                 "/invoices/x/pdf"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert client.get("/static/htmx.min.js").status_code == 200, "static files are public"
    assert client.get("/static/console.css").status_code == 200


def test_session_cookie_flags_and_secure_behind_tls(app: Any, tmp_path: Path) -> None:
    client = TestClient(app, follow_redirects=False)
    cookie = client.get("/login").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    proxied = TestClient(app).get("/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "Secure" in proxied
    tls = TestClient(app, base_url="https://console.example", follow_redirects=False)
    assert "Secure" in tls.get("/login").headers["set-cookie"]
    forced = create_app(register_settings(tmp_path), BROKER, ConsoleSettings(secure_cookies=True))
    assert "Secure" in TestClient(forced).get("/login").headers["set-cookie"]
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_tampered_or_foreign_cookie_is_no_session(app: Any, tmp_path: Path) -> None:
    client = signed_in(app, "olga")
    assert client.get("/invoices").status_code == 200
    value = client.cookies["invoicing_console"]
    forged = TestClient(app, follow_redirects=False, cookies={"invoicing_console": value[:-2] + "xx"})
    assert forged.get("/invoices").status_code == 303
    other = create_app(register_settings(tmp_path), BROKER)  # another random key
    assert TestClient(other, follow_redirects=False, cookies={"invoicing_console": value}).get("/invoices").status_code == 303


def test_sign_in_is_rate_limited_per_user_and_per_address(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    csrf = token(client)
    for _ in range(3):
        assert client.post("/login", data={"username": "olga", "password": "wrong", "csrf_token": csrf}).status_code == 401
    blocked = client.post("/login", data={"username": "olga", "password": PASSWORD, "csrf_token": csrf})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0, "even the right password waits"
    # another user from the same address is not blocked by olga's failures (the address allows 4x as many)
    assert signed_in(app, "victor").get("/invoices").status_code == 200
    limiter = LoginLimiter(attempts=2, window=60)
    for n in range(8):
        limiter.failed(f"user{n}", "10.0.0.1")
    assert limiter.retry_after("someone-else", "10.0.0.1") > 0, "one address trying many names is blocked"
    assert limiter.retry_after("someone-else", "10.0.0.2") == 0
    entries = audit_entries(app.state.console.engine, action="sign-in")
    assert [e.result for e in entries if e.subject == "olga"][:4] == ["refused", "failed", "failed", "failed"]


def test_passwords_are_argon2_hashes_and_add_user_reads_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main(["console", "add-user", "anna", "--role", "operator", "--register-path", str(tmp_path / "r.db")]) == 0
    assert "added operator anna" in capsys.readouterr().out
    app = create_app(register_settings(tmp_path).model_copy(update={"register_path": tmp_path / "r.db"}), BROKER)
    engine = app.state.console.engine
    with engine.connect() as conn:
        stored = conn.execute(select(console_users.c.password_hash).where(console_users.c.username == "anna")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert authenticate(engine, "anna", PASSWORD) is not None and authenticate(engine, "anna", "nope") is None
    with pytest.raises(ConsoleUserError):
        create_user(engine, "bob", "admin", PASSWORD)
    with pytest.raises(ConsoleUserError):
        create_user(engine, "bob", "viewer", "short")
    with pytest.raises(ConsoleUserError):
        read_password(stdin=io.StringIO("\n"))
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main(["console", "add-user", "bob", "--role", "viewer", "--register-path", str(tmp_path / "r.db")]) == 2
    dispose_all()


@pytest.mark.skipif(not _postgres_answers(), reason=f"no PostgreSQL at {PG_DSN}")
def test_users_and_audit_in_the_postgresql_register(tmp_path: Path) -> None:
    schema = f"con_{uuid.uuid4().hex[:12]}"
    settings = Settings(register_dsn=SecretStr(PG_DSN), register_schema=schema, output_dir=tmp_path / "out", metrics_port=0)
    try:
        app = create_app(settings, BROKER)
        create_user(app.state.console.engine, "olga", "operator", PASSWORD)
        record_invoice(app.state.console.engine, sample_invoice(7, targets=("register",)))
        client = signed_in(app, "olga")
        page = client.get("/invoices").text
        assert sample_invoice(7)["number"] in page
        assert client.post("/cycles/close", data={"customer": "C"}).status_code == 403
        entries = audit_entries(app.state.console.engine)
        assert [(e.action, e.result) for e in entries[:2]] == [("close-cycle", "refused"), ("sign-in", "ok")]
    finally:
        dispose_all()
        _drop_schema(schema)


def test_invoice_pages_without_javascript_and_credit_notes_linked_both_ways(app: Any) -> None:
    """The search is a plain GET form answered by the server, and an invoice and its credit note link to each other."""
    engine = app.state.console.engine
    invoice = sample_invoice(1, targets=("register",))
    credit = sample_invoice(1, targets=("register",), document_type="CREDIT_NOTE")
    assert credit["preceding_invoice"] == invoice["number"] and credit["invoice_id"] != invoice["invoice_id"]
    record_invoice(engine, credit)
    client = signed_in(app, "victor")
    found = client.get("/invoices", params={"number": credit["number"]}).text
    assert f'href="/invoices/{credit["invoice_id"]}"' in found and f'href="/invoices/{invoice["invoice_id"]}"' not in found
    assert "credit note" in found
    page = client.get(f"/invoices/{invoice['invoice_id']}").text
    assert f'Credited by <a href="/invoices/{credit["invoice_id"]}">{credit["number"]}</a>' in page
    page = client.get(f"/invoices/{credit['invoice_id']}").text
    assert f'Corrects invoice\n      <a href="/invoices/{invoice["invoice_id"]}">{invoice["number"]}</a>' in page
    assert "Credit note " + credit["number"] in page
    for kind, start in (("pdf", b"%PDF-"), ("ubl", b"<?xml")):
        r = client.get(f"/invoices/{invoice['invoice_id']}/{kind}")
        assert r.status_code == 200 and r.content.startswith(start), kind
