"""Billing cycles for B2B customers: which cycle an order falls in, and when a cycle ends.

A customer's ``billing_cycle`` in reference data::

    billing_cycle: {frequency: monthly, day: 15, timezone: Europe/Berlin}
    billing_cycle: {frequency: semi-monthly, timezone: America/Chicago}   # 1st–15th, 16th–end
    billing_cycle: {frequency: weekly, day: 0, timezone: UTC}             # day: 0 = Monday

Cycles start and end at local midnight in the customer's time zone. A cycle is
identified by its frequency and local start date (``M2026-11-15``); the same
order time always falls in the same cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import ConfigError

__all__ = ["CycleSpec", "Cycle", "parse_cycle", "cycle_for", "next_cycle"]

_FREQ = {"monthly": "M", "semi-monthly": "S", "weekly": "W"}


@dataclass(frozen=True)
class CycleSpec:
    frequency: str
    day: int
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Cycle:
    cycle_id: str
    start: datetime
    end: datetime

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def parse_cycle(config: Mapping[str, Any] | None, default_timezone: str | None = None) -> CycleSpec:
    """Read a ``billing_cycle`` mapping.

    Raises:
        ConfigError: unknown frequency, day out of range or unknown time zone.
    """
    cfg = dict(config or {})
    freq = str(cfg.get("frequency", "monthly")).lower()
    if freq not in _FREQ:
        raise ConfigError(f"billing cycle frequency {freq!r} is not one of {sorted(_FREQ)}")
    day = int(cfg.get("day", 1 if freq == "monthly" else 0))
    if freq == "monthly" and not 1 <= day <= 28:
        raise ConfigError("monthly billing cycles start on day 1 to 28")
    if freq == "weekly" and not 0 <= day <= 6:
        raise ConfigError("weekly billing cycles start on day 0 (Monday) to 6 (Sunday)")
    tz = str(cfg.get("timezone") or default_timezone or "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {tz!r}") from None
    return CycleSpec(freq, day, tz)


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, d.day)


def _start_date(spec: CycleSpec, local: date) -> date:
    if spec.frequency == "monthly":
        start = local.replace(day=spec.day)
        return start if local >= start else _add_months(start, -1)
    if spec.frequency == "semi-monthly":
        return local.replace(day=1 if local.day < 16 else 16)
    return local - timedelta(days=(local.weekday() - spec.day) % 7)


def _end_date(spec: CycleSpec, start: date) -> date:
    if spec.frequency == "monthly":
        return _add_months(start, 1)
    if spec.frequency == "semi-monthly":
        return start.replace(day=16) if start.day == 1 else _add_months(start.replace(day=1), 1)
    return start + timedelta(days=7)


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(timezone.utc)


def _cycle(spec: CycleSpec, start: date) -> Cycle:
    tz = spec.tz
    return Cycle(f"{_FREQ[spec.frequency]}{start.isoformat()}", _midnight(start, tz), _midnight(_end_date(spec, start), tz))


def cycle_for(spec: CycleSpec, when: datetime) -> Cycle:
    """The cycle that contains the instant *when*."""
    local = when.astimezone(spec.tz).date()
    return _cycle(spec, _start_date(spec, local))


def next_cycle(spec: CycleSpec, cycle: Cycle) -> Cycle:
    """The cycle right after *cycle*."""
    return _cycle(spec, cycle.end.astimezone(spec.tz).date())
