"""The data's path through one worker: every agent and timer, what it reads and what it writes.

    gateway, pollers ──► raw-events
    normalise   raw-events                 ──► orders                                  (thin events: fetch)
    bill        orders                     ──► issue-requests, cycle-orders            (dedup, policy, draft)
    cycles      cycle-orders               ──► issue-requests                          (open cycles; close)
    issue       issue-requests             ──► invoices                                (gate, number)
    deliver     invoices, redeliver        ──► delivery-receipts                       (every target)
    register_receipts  delivery-receipts   ──► the register (SQL)
    every agent ──► dead-letters (with the reason); `invoicing dlq replay` sends them back where they came from
    timers (leader): sweep ──► orders (expired order states); close_due_cycles ──► cycle-orders (close)
    beside the agents (streams/operations.py, every worker): the group's committed offsets and the
    dead-letters topics are read for the lag and pending gauges; while the producer check fails, a probe
    tombstone ──► dead-letters.replayed

The agents are module-level functions over a `streams.context.Context`; `build` makes the context
for one set of settings and binds the agents this worker runs (``INVOICING_AGENTS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from domain.errors import PipelineError
from domain.settings import Settings
from infra.health import Health
from streams import bill, cycles, deliver, issue, normalise, register_receipts
from streams.context import Context

__all__ = ["AGENTS", "TIMERS", "Agent", "Timer", "bind_agent", "bind_timer", "build"]


@dataclass(frozen=True)
class Agent:
    name: str
    run: Callable[[Context, Any], Awaitable[None]]
    reads: Callable[[Context], Any]
    writes: tuple[str, ...]


@dataclass(frozen=True)
class Timer:
    name: str
    agent: str  # runs with this agent
    run: Callable[[Context], Awaitable[None]]
    every: Callable[[Settings], float]
    writes: tuple[str, ...]


def _receipts(p: Context) -> Any:  # its own topic object: the deliver agent sends on channels.receipts
    return p.app.topic(p.topics.receipts, key_serializer="raw", value_serializer="raw")


AGENTS = (
    Agent("normalise", normalise.normalise, lambda p: p.channels.raw, ("orders", "dead-letters")),
    Agent("bill", bill.bill, lambda p: p.channels.orders, ("issue-requests", "cycle-orders", "dead-letters")),
    Agent("cycles", cycles.cycle_agent, lambda p: p.channels.cycle_orders, ("issue-requests", "dead-letters")),
    Agent("issue", issue.issue, lambda p: p.channels.issue, ("invoices", "issue-requests", "dead-letters")),
    Agent("deliver", deliver.deliver, lambda p: p.channels.deliver_in, ("delivery-receipts", "dead-letters")),
    Agent("register_receipts", register_receipts.register_receipts, _receipts, ("register", "dead-letters")),
)
TIMERS = (
    Timer("sweep", "bill", bill.request_sweep, lambda s: s.sweep_interval, ("orders",)),
    Timer("close_due_cycles", "cycles", cycles.close_due_cycles, lambda s: s.cycle_check_interval, ("cycle-orders",)),
)


def bind_agent(p: Context, agent: Agent) -> None:
    async def run(stream: Any) -> None:
        await agent.run(p, stream)

    run.__name__ = run.__qualname__ = agent.name
    p.app.agent(agent.reads(p), name=agent.name, concurrency=1)(run)  # concurrency 1: MISSION.md


def bind_timer(p: Context, timer: Timer) -> None:
    async def run() -> None:
        await timer.run(p)

    run.__name__ = run.__qualname__ = timer.name
    p.app.timer(timer.every(p.settings), on_leader=True, name=f"invoicing.{timer.name}")(run)


def build(settings: Settings, bootstrap: str, health: Health | None = None, epoch: str | None = None) -> Context:
    """The context of one worker with the agents in ``settings.agents`` (``["all"]``: every one) bound.

    Raises:
        PipelineError: an unknown agent name.
    """
    names = [a.name for a in AGENTS]
    unknown = set(settings.agents) - set(names) - {"all"}
    if unknown:
        raise PipelineError(f"unknown agents {sorted(unknown)}; choose from {sorted(names)}")
    wanted = set(names) if settings.agents == ["all"] else set(settings.agents)
    if settings.register_receipts is False:
        wanted.discard("register_receipts")
    p = Context(settings, bootstrap, health=health, epoch=epoch)
    for agent in AGENTS:
        if agent.name in wanted:
            bind_agent(p, agent)
    for timer in TIMERS:
        if timer.agent in wanted:
            bind_timer(p, timer)
    return p
