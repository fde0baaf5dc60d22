"""CloudEvents 1.0 over HTTP, structured and binary content modes (SAP Event Mesh, Event Grid).

* structured: ``Content-Type: application/cloudevents+json``, the body is the whole event;
* binary: the attributes travel as ``ce-*`` headers and the body is ``data``.

Batched mode (``application/cloudevents-batch+json``) is refused: a webhook
subscription delivers one event per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sources.support.payload import parse_json
from domain.errors import PayloadError

__all__ = ["CloudEvent", "CE_HEADERS", "read_cloudevent"]

#: binary-mode attribute headers, kept on the raw event so the worker can read it again
CE_HEADERS = ("ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "ce-subject", "ce-datacontenttype")


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    time: str
    subject: str
    data: Any


def read_cloudevent(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """The event in a request (header names lower case).

    Raises:
        PayloadError: not a CloudEvents 1.0 event.
    """

    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/cloudevents-batch+json":
        raise PayloadError("batched CloudEvents are not accepted")
    if headers.get("ce-specversion") or headers.get("ce-id"):
        attrs: Mapping[str, Any] = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        data: Any = parse_json(body) if body.strip() else None
    else:
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise PayloadError("body is not a CloudEvent")
        attrs, data = doc, doc.get("data")
    if str(attrs.get("specversion", "")) != "1.0":
        raise PayloadError(f"unsupported CloudEvents specversion {attrs.get('specversion')!r}")
    for required in ("id", "type", "source"):
        if not attrs.get(required):
            raise PayloadError(f"CloudEvent lacks {required!r}")
    return CloudEvent(id=str(attrs["id"]), type=str(attrs["type"]), source=str(attrs["source"]),
                      time=str(attrs.get("time") or ""), subject=str(attrs.get("subject") or ""), data=data)
