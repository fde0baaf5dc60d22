"""Dead letters: what is parked and why, and replay (one, or all of a target or a stage) after a confirmation."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicing.console.auth import action, audit
from invoicing.console.services import PipelineError, dead_letters, pending_dead_letters, replay_dead_letters
from invoicing.console.web import context_of, render

__all__ = ["routes"]


def _selection(values: dict[str, str]) -> dict[str, str | None]:
    return {k: (values.get(k) or "").strip()[:200] or None for k in ("position", "stage", "target")}


def _describe(sel: dict[str, str | None]) -> str:
    if sel["position"]:
        return f"dead letter {sel['position']}"
    parts = [f"stage {sel['stage']}" if sel["stage"] else "", f"target {sel['target']}" if sel["target"] else ""]
    return "all dead letters of " + " and ".join(p for p in parts if p)


async def dead_letter_list(request: Request) -> Response:
    console = context_of(request)
    show = request.query_params.get("show", "pending")
    try:
        entries = await dead_letters(console.settings, console.bootstrap)
        error = None
    except PipelineError as exc:
        entries, error = [], str(exc)
    shown = [e for e in entries if show == "all" or not e.replayed]
    pending = [e for e in entries if not e.replayed and e.replayable]
    targets = sorted({e.target for e in pending if e.target})
    stages = sorted({e.stage.split(":")[0] for e in pending})
    return render(request, "dead_letters.html", entries=shown, total=len(entries), show=show, error=error,
                  targets=targets, stages=stages, pending=len(pending))


async def confirm(request: Request) -> Response:
    console = context_of(request)
    sel = _selection(dict(request.query_params))
    if not any(sel.values()):
        return render(request, "message.html", status_code=400, title="Nothing chosen",
                      message="Choose one dead letter, or a target or stage to replay.", back="/dead-letters")
    try:
        entries = await pending_dead_letters(console.settings, console.bootstrap, **sel)
    except PipelineError as exc:
        return render(request, "message.html", status_code=503, title="Broker", message=str(exc), back="/dead-letters")
    return render(request, "dead_letters_confirm.html", entries=entries, selection=sel, what=_describe(sel))


@action("replay")
async def do_replay(request: Request) -> Response:
    console = context_of(request)
    form = await request.form()
    sel = _selection({k: str(v) for k, v in form.items()})
    what = _describe(sel)
    try:
        count = await replay_dead_letters(console.settings, console.bootstrap, **sel)
    except PipelineError as exc:
        await audit(request, "replay", what, "failed", str(exc))
        return render(request, "message.html", status_code=409, title="Not replayed", message=str(exc),
                      back="/dead-letters")
    await audit(request, "replay", what, "ok", f"{count} dead letter(s) sent back to be processed again")
    return render(request, "dead_letters_result.html", count=count, what=what, selection=sel)


def routes() -> list[Route]:
    return [Route("/dead-letters", dead_letter_list), Route("/dead-letters/confirm", confirm),
            Route("/dead-letters/replay", do_replay, methods=["POST"])]
