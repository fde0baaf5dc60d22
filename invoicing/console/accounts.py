"""Console users and the audit of what they did, both in the invoice register.

* ``console_users``: name, argon2id hash of the password, role (``viewer`` reads,
  ``operator`` also replays, closes and re-sends), when created.
* ``console_audit``: one row per operator action and sign-in: who, what, on what, when,
  the result, and from which address. Rows are only ever added.

Created by the register's Alembic revision ``0002`` (``sinks/register/migrations``).
Functions are synchronous (SQLAlchemy Core); the console calls them with ``asyncio.to_thread``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import BigInteger, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text, insert, select, update

__all__ = ["ROLES", "User", "AuditEntry", "console_users", "console_audit", "create_user", "authenticate", "get_user",
           "list_users", "record_action", "audit_entries", "validate_name", "ConsoleUserError"]

ROLES = ("viewer", "operator")
_TZ = DateTime(timezone=True)
metadata = MetaData()

console_users = Table(
    "console_users", metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("disabled", Integer, nullable=False, default=0),
)

console_audit = Table(
    "console_audit", metadata,
    Column("entry_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", _TZ, nullable=False),
    Column("username", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(50), nullable=False),
    Column("subject", Text, nullable=False),
    Column("result", String(20), nullable=False, doc="ok | failed | refused"),
    Column("detail", Text, nullable=False),
    Column("address", String(64), nullable=False),
    Index("ix_console_audit_at", "at"),
)

_HASHER = PasswordHasher()  # argon2id with the library's current parameters
_DUMMY_HASH = _HASHER.hash("not a password anyone has")  # unknown users cost as much as known ones
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ConsoleUserError(ValueError):
    """A user name, role or password that cannot be used."""


@dataclass(frozen=True)
class User:
    username: str
    role: str

    @property
    def can_act(self) -> bool:
        """Operators replay, close and re-send; viewers only read."""
        return self.role == "operator"


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    username: str
    role: str
    action: str
    subject: str
    result: str
    detail: str
    address: str


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConsoleUserError("a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return name


def create_user(engine: Engine, name: str, role: str, password: str) -> bool:
    """Add *name* with *role*, or set a new password and role when it exists; True when it was new.

    Raises:
        ConsoleUserError: bad name or role, or a password shorter than 10 characters.
    """
    validate_name(name)
    if role not in ROLES:
        raise ConsoleUserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise ConsoleUserError("the password must have at least 10 characters")
    hashed = _HASHER.hash(password)
    with engine.begin() as conn:
        exists = conn.execute(select(console_users.c.username).where(console_users.c.username == name)).first()
        if exists:
            conn.execute(update(console_users).where(console_users.c.username == name)
                         .values(password_hash=hashed, role=role, disabled=0))
            return False
        conn.execute(insert(console_users).values(username=name, password_hash=hashed, role=role,
                                                  created_at=datetime.now(timezone.utc), disabled=0))
        return True


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    """The user when *password* is theirs; None otherwise (same work either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(console_users).where(console_users.c.username == name,
                                                       console_users.c.disabled == 0)).mappings().first()
    try:
        _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _HASHER.check_needs_rehash(row["password_hash"]):
        with engine.begin() as conn:
            conn.execute(update(console_users).where(console_users.c.username == name)
                         .values(password_hash=_HASHER.hash(password)))
    return User(row["username"], row["role"])


def get_user(engine: Engine, name: str) -> User | None:
    """The user *name* as the register has it now (a removed or disabled user is signed out)."""
    with engine.connect() as conn:
        row = conn.execute(select(console_users.c.username, console_users.c.role)
                           .where(console_users.c.username == name, console_users.c.disabled == 0)).first()
    return User(row[0], row[1]) if row else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [User(r[0], r[1]) for r in conn.execute(select(console_users.c.username, console_users.c.role)
                                                        .where(console_users.c.disabled == 0)
                                                        .order_by(console_users.c.username))]


def record_action(engine: Engine, *, user: str, role: str, action: str, subject: str, result: str, detail: str = "",
                  address: str = "") -> None:
    """Append one row to the audit table."""
    with engine.begin() as conn:
        conn.execute(insert(console_audit).values(at=datetime.now(timezone.utc), username=user[:64], role=role[:20],
                                                  action=action[:50], subject=subject, result=result[:20],
                                                  detail=detail[:4000], address=address[:64]))


def audit_entries(engine: Engine, *, limit: int = 200, username: str | None = None,
                  action: str | None = None) -> list[AuditEntry]:
    """The newest audit rows first."""
    stmt = select(console_audit).order_by(console_audit.c.entry_id.desc()).limit(limit)
    if username:
        stmt = stmt.where(console_audit.c.username == username)
    if action:
        stmt = stmt.where(console_audit.c.action == action)
    with engine.connect() as conn:
        rows: list[dict[str, Any]] = [dict(r) for r in conn.execute(stmt).mappings()]
    out = []
    for r in rows:
        at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=timezone.utc)
        out.append(AuditEntry(at, r["username"], r["role"], r["action"], r["subject"], r["result"], r["detail"],
                              r["address"]))
    return out
