"""Safe XML for inbound platform messages (Salesforce SOAP, Infor BODs).

`parse_xml` uses defusedxml with DTDs forbidden outright: no platform we accept
sends a DOCTYPE, so XXE (external entities) and entity-expansion bombs
("billion laughs", quadratic blowup) are rejected before any expansion, as a
`PayloadError` (HTTP 400). Lookups ignore namespaces (SOAP and OAGIS prefixes vary).
"""
from __future__ import annotations

from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from domain.errors import PayloadError

__all__ = ["parse_xml", "local", "child", "children", "text", "attr", "descendants"]


def parse_xml(body: bytes) -> Element:
    """The root element of *body*.

    Raises:
        PayloadError: not well-formed XML, or it declares a DTD or entities.
    """
    try:
        root: Element = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        return root
    except DefusedXmlException:
        raise PayloadError("XML that declares a DTD or entities is refused") from None
    except (ParseError, ValueError) as exc:
        raise PayloadError(f"body is not well-formed XML: {exc}") from None


def local(tag: str) -> str:
    """``{urn:x}Name`` → ``Name``."""
    return tag.rsplit("}", 1)[-1]


def children(el: Element | None, name: str) -> list[Element]:
    """Direct children of *el* whose local name is *name*."""
    return [c for c in el if local(c.tag) == name] if el is not None else []


def child(el: Element | None, path: str) -> Element | None:
    """First element along *path* (local names separated by ``/``), or None."""
    cur = el
    for part in path.split("/"):
        found = children(cur, part)
        if not found:
            return None
        cur = found[0]
    return cur


def text(el: Element | None, path: str = "", default: str = "") -> str:
    """Stripped text of the element at *path* (or of *el* itself), *default* when absent or empty."""
    target = child(el, path) if path else el
    if target is None or target.text is None or not target.text.strip():
        return default
    return target.text.strip()


def attr(el: Element | None, name: str, default: str = "") -> str:
    """Attribute *name* of *el*, namespace ignored."""
    if el is None:
        return default
    for key, value in el.attrib.items():
        if local(key) == name:
            return value
    return default


def descendants(el: Element, name: str) -> Iterator[Element]:
    """Every element below *el* (and *el*) whose local name is *name*."""
    return (e for e in el.iter() if local(e.tag) == name)
