"""Per-target protection: a token-bucket rate limiter and a circuit breaker.

One `TargetGuard` per target (and tenant) is shared by all deliveries in a
worker. The limiter spaces calls to the rate the platform publishes (e.g. Xero
60/min, QuickBooks 500/min); the breaker opens after consecutive failures so a
dead target fails fast (its invoices are parked, not retried in a loop) while
the others keep flowing, and lets one trial call through after a cool-down.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from invoicing.errors import RetriableSinkError
from invoicing.metrics import CIRCUIT_STATE, RATE_LIMIT_WAITS

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
            CIRCUIT_STATE.labels(self.target).set(0)

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()
            CIRCUIT_STATE.labels(self.target).set(1)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


@dataclass
class TargetGuard:
    breaker: CircuitBreaker
    limiter: RateLimiter | None = None


_GUARDS: dict[str, TargetGuard] = {}


def guard_for(target: str, per_minute: float | None, *, threshold: int = 5, cooldown: float = 30.0) -> TargetGuard:
    """The process-wide guard of *target*."""
    g = _GUARDS.get(target)
    if g is None:
        g = TargetGuard(CircuitBreaker(target, threshold, cooldown), RateLimiter(per_minute) if per_minute else None)
        _GUARDS[target] = g
    return g
