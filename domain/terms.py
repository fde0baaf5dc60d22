"""Payment terms: a code gives the due date and the text printed on the invoice.

Codes: ``NET<n>`` (due n days after issue), ``EOM`` (end of the issue month),
``EOM<n>`` (n days after the end of the issue month), ``DUE`` (on receipt), and an
early-payment discount prefix ``<p>/<d>-`` (``2/10-NET30``: 2 % off if paid within
10 days, otherwise net 30).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain.errors import ConfigError

__all__ = ["PaymentTerms", "parse_terms"]

_RE = re.compile(r"^(?:(?P<pct>\d+(?:\.\d+)?)/(?P<days>\d+)-)?(?P<base>NET(?P<net>\d+)|EOM(?P<eom>\d+)?|DUE)$")


@dataclass(frozen=True)
class PaymentTerms:
    code: str
    net_days: int | None
    end_of_month: bool
    discount_percent: Decimal | None
    discount_days: int | None

    def due_date(self, issued: date) -> date:
        if self.end_of_month:
            last = issued.replace(day=calendar.monthrange(issued.year, issued.month)[1])
            return last + timedelta(days=self.net_days or 0)
        return issued + timedelta(days=self.net_days or 0)

    def text(self, issued: date) -> str:
        if self.end_of_month:
            base = "Due at the end of the month" if not self.net_days else f"Due {self.net_days} days after the end of the month"
        elif not self.net_days:
            base = "Due on receipt"
        else:
            base = f"Net {self.net_days} days"
        if self.discount_percent is not None and self.discount_days is not None:
            until = issued + timedelta(days=self.discount_days)
            base += f"; {self.discount_percent}% early-payment discount if paid by {until.isoformat()}"
        return base


def parse_terms(code: str | None, default: str = "NET30") -> PaymentTerms:
    """Parse a terms code.

    Raises:
        ConfigError: the code is not one of the forms above.
    """
    raw = (code or default).strip().upper().replace(" ", "")
    m = _RE.match(raw)
    if not m:
        raise ConfigError(f"unknown payment terms {code!r}")
    eom = m.group("base").startswith("EOM")
    net = m.group("net") or m.group("eom")
    return PaymentTerms(
        code=raw,
        net_days=int(net) if net else (0 if not eom else None),
        end_of_month=eom,
        discount_percent=Decimal(m.group("pct")) if m.group("pct") else None,
        discount_days=int(m.group("days")) if m.group("days") else None,
    )
