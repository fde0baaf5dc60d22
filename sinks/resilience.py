"""Per-target protection: a token-bucket rate limiter and a circuit breaker.

One `TargetGuard` per (target, tenant) is shared by all deliveries in a
worker. The limiter spaces calls to the rate the platform publishes per tenant
(e.g. Xero 60/min per organisation, QuickBooks 500/min per realm); the breaker
opens after consecutive failures so a dead target fails fast (its invoices are
parked, not retried in a loop) while the others keep flowing, and lets a trial
call through after a cool-down. The ``invoicing_circuit_open`` gauge is per
target: 1 while any of its tenants' circuits is open.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from domain.errors import RetriableSinkError
from domain.metrics import CIRCUIT_STATE, RATE_LIMIT_WAITS

__all__ = ["RateLimiter", "CircuitBreaker", "CircuitOpen", "TargetGuard", "guard_for"]


class CircuitOpen(RetriableSinkError):
    """The target's circuit is open: not called, retry after the cool-down."""


@dataclass
class RateLimiter:
    """Token bucket: *per_minute* calls, bursts up to *burst*."""

    per_minute: float
    burst: float = 5.0
    _tokens: float = field(default=-1.0)
    _stamp: float = field(default_factory=time.monotonic)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def acquire(self, target: str = "") -> float:
        """Wait for a call slot; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            rate = self.per_minute / 60.0
            if self._tokens < 0:
                self._tokens = self.burst
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    break
                delay = (1 - self._tokens) / rate
                waited += delay
                await asyncio.sleep(delay)
        if waited and target:
            RATE_LIMIT_WAITS.labels(target).inc(waited)
        return waited


@dataclass
class CircuitBreaker:
    """Closed → open after *threshold* consecutive failures → half-open after *cooldown* s."""

    target: str
    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None

    def before_call(self) -> None:
        """Raises `CircuitOpen` while open (and not yet due for a trial)."""
        if self.opened_at is None:
            return
        remaining = self.cooldown - (time.monotonic() - self.opened_at)
        if remaining > 0:
            raise CircuitOpen(f"{self.target}: circuit open after {self.failures} failures", retry_after=remaining)

    def success(self) -> None:
        self.failures = 0
        if self.opened_at is not None:
            self.opened_at = None
            _publish_state(self.target)

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()
            _publish_state(self.target)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


@dataclass
class TargetGuard:
    breaker: CircuitBreaker
    limiter: RateLimiter | None = None


_GUARDS: dict[tuple[str, str | None], TargetGuard] = {}


def _publish_state(target: str) -> None:
    """``invoicing_circuit_open{target}``: 1 while any tenant's circuit of *target* is open."""
    is_open = any(g.breaker.is_open for (t, _), g in _GUARDS.items() if t == target)
    CIRCUIT_STATE.labels(target).set(1 if is_open else 0)


def guard_for(target: str, per_minute: float | None, *, threshold: int = 5, cooldown: float = 30.0,
              tenant: str | None = None) -> TargetGuard:
    """The process-wide guard of *target* for *tenant* (rate limits and outages are per tenant).

    Args:
        target: the sink's target name.
        per_minute: the tenant's published request limit (None: no limiter).
        threshold: consecutive failures that open the circuit.
        cooldown: seconds an open circuit waits before a trial call.
        tenant: the tenant, realm, company or organisation id (`PlatformSettings.tenant`), if any.
    """
    key = (target, tenant or None)
    g = _GUARDS.get(key)
    if g is None:
        g = TargetGuard(CircuitBreaker(target, threshold, cooldown), RateLimiter(per_minute) if per_minute else None)
        _GUARDS[key] = g
        _publish_state(target)  # the gauge exists (0) from the first delivery on
    return g
