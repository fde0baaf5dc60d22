"""Audit of the legal numbering on the ``invoices`` topic: no holes, no duplicates.

`audit_numbers` is a pure function over the messages of the topic (decoded invoice and
raw bytes each), so it is tested without a broker; ``invoicing audit numbers``
(`invoicing.audit_cli`) feeds it the whole topic.

Rules, per series (legal entity x document type):

* the sequences are exactly 1..N (``hole``: a missing sequence; ``bad_sequence``: < 1);
* one invoice per sequence and per number (``duplicate``: two invoice ids share one);
* an invoice id may appear more than once only byte-identical, a re-send after a crash
  (``resent_different``: same id, same number, other bytes; ``renumbered``: same id under
  two numbers or sequences);
* a higher sequence is never issued on an earlier date (``date_order``);
* every message decodes as an ``Invoice`` keyed by its invoice id (``undecodable``,
  ``key_mismatch``).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

__all__ = ["InvoiceMessage", "Problem", "SeriesSummary", "AuditReport", "audit_numbers"]

#: problem kinds that make the audit fail (all of them do)
KINDS = ("hole", "duplicate", "bad_sequence", "resent_different", "renumbered", "date_order",
         "undecodable", "key_mismatch")


@dataclass(frozen=True)
class InvoiceMessage:
    """One message of the ``invoices`` topic: the decoded invoice (None if it did not decode)."""

    raw: bytes | None
    invoice: Mapping[str, Any] | None
    key: bytes | None = None
    position: str = ""  # "partition:offset"
    error: str | None = None  # why it did not decode


@dataclass(frozen=True)
class Problem:
    kind: str
    series: str | None
    detail: str
    invoice_ids: tuple[str, ...] = ()
    sequences: tuple[int, ...] = ()
    positions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "series": self.series, "detail": self.detail,
                "invoice_ids": list(self.invoice_ids), "sequences": list(self.sequences),
                "positions": list(self.positions)}


@dataclass
class SeriesSummary:
    series: str
    count: int = 0  # distinct invoice ids
    first_sequence: int | None = None
    last_sequence: int | None = None
    first_number: str | None = None
    last_number: str | None = None
    first_issue_date: date | None = None
    last_issue_date: date | None = None
    problems: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"series": self.series, "count": self.count, "first_sequence": self.first_sequence,
                "last_sequence": self.last_sequence, "first_number": self.first_number,
                "last_number": self.last_number,
                "first_issue_date": self.first_issue_date.isoformat() if self.first_issue_date else None,
                "last_issue_date": self.last_issue_date.isoformat() if self.last_issue_date else None,
                "problems": self.problems, "ok": self.problems == 0}


@dataclass
class AuditReport:
    messages: int = 0
    invoices: int = 0  # distinct invoice ids
    resent: int = 0  # byte-identical repeats (allowed)
    series: dict[str, SeriesSummary] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for p in self.problems:
            counts[p.kind] += 1
        return {"ok": self.ok, "messages": self.messages, "invoices": self.invoices, "resent": self.resent,
                "problem_counts": dict(sorted(counts.items())),
                "series": [s.as_dict() for s in sorted(self.series.values(), key=lambda s: s.series)],
                "problems": [p.as_dict() for p in self.problems]}

    def text(self) -> str:
        lines = [f"{self.messages} message(s), {self.invoices} invoice(s), {self.resent} identical re-send(s), "
                 f"{len(self.series)} series"]
        for s in sorted(self.series.values(), key=lambda s: s.series):
            span = f"{s.first_number} .. {s.last_number}" if s.count else "-"
            lines.append(f"  {s.series:<32} {s.count:>7}  {span:<40} {'OK' if not s.problems else f'{s.problems} problem(s)'}")
        for p in self.problems:
            lines.append(f"{p.kind.upper()}: {p.series or '-'}: {p.detail}")
        lines.append("numbering OK" if self.ok else f"{len(self.problems)} problem(s)")
        return "\n".join(lines)


def _ranges(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]."""
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _span(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def audit_numbers(messages: Iterable[InvoiceMessage]) -> AuditReport:
    """Check every series of the given ``invoices`` messages. See the module docstring."""
    report = AuditReport()
    # invoice id -> distinct raw bytes -> (invoice, positions)
    versions: dict[str, dict[bytes, tuple[Mapping[str, Any], list[str]]]] = defaultdict(dict)
    for m in messages:
        report.messages += 1
        inv = m.invoice
        if inv is None or m.raw is None:
            report.problems.append(Problem("undecodable", None, f"message {m.position or '?'} is not an Invoice"
                                           f"{': ' + m.error if m.error else ''}", positions=(m.position,)))
            continue
        iid = str(inv["invoice_id"])
        if m.key is not None and m.key != iid.encode():
            report.problems.append(Problem("key_mismatch", inv.get("series"),
                                           f"message {m.position or '?'} keyed {m.key!r} carries invoice {iid}",
                                           invoice_ids=(iid,), positions=(m.position,)))
        seen = versions[iid].get(m.raw)
        if seen is None:
            versions[iid][m.raw] = (inv, [m.position])
        else:
            seen[1].append(m.position)
            report.resent += 1
    report.invoices = len(versions)

    # per series: sequence -> invoice ids, number -> invoice ids, and the first version of each id
    by_seq: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    by_number: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    rows: dict[str, dict[tuple[int, str], tuple[str, date]]] = defaultdict(dict)
    ids_of: dict[str, set[str]] = defaultdict(set)
    for iid, vs in versions.items():
        if len(vs) > 1:
            numbering = {(inv["series"], inv["sequence"], inv["number"]) for inv, _ in vs.values()}
            positions = tuple(p for _, ps in vs.values() for p in ps)
            if len(numbering) > 1:
                shown = ", ".join(f"{s} #{q} {n}" for s, q, n in sorted(numbering))
                report.problems.append(Problem("renumbered", sorted(numbering)[0][0],
                                               f"invoice {iid} appears under {len(numbering)} numbers: {shown}",
                                               invoice_ids=(iid,), sequences=tuple(sorted({q for _, q, _ in numbering})),
                                               positions=positions))
            else:
                s, q, n = next(iter(numbering))
                report.problems.append(Problem("resent_different", s,
                                               f"invoice {iid} ({n}) was sent {len(vs)} times with different bytes",
                                               invoice_ids=(iid,), sequences=(q,), positions=positions))
        for inv, _ in vs.values():
            series, seq, number = str(inv["series"]), int(inv["sequence"]), str(inv["number"])
            ids_of[series].add(iid)
            by_seq[series][seq].add(iid)
            by_number[series][number].add(iid)
            rows[series].setdefault((seq, iid), (number, inv["issue_date"]))

    for series in sorted(ids_of):
        summary = report.series[series] = SeriesSummary(series, count=len(ids_of[series]))
        first_problem = len(report.problems)
        seqs = by_seq[series]
        bad = sorted(q for q in seqs if q < 1)
        if bad:
            report.problems.append(Problem("bad_sequence", series, f"sequence(s) {bad} below 1",
                                           invoice_ids=tuple(sorted(i for q in bad for i in seqs[q])),
                                           sequences=tuple(bad)))
        good = sorted(q for q in seqs if q >= 1)
        if good:
            missing = sorted(set(range(1, good[-1] + 1)) - set(good))
            for a, b in _ranges(missing):
                report.problems.append(Problem("hole", series, f"sequence {_span(a, b)} missing "
                                               f"({b - a + 1} number(s)) of 1..{good[-1]}",
                                               sequences=tuple(range(a, b + 1)) if b - a < 1000 else (a, b)))
        for q in good:
            if len(seqs[q]) > 1:
                report.problems.append(Problem("duplicate", series, f"sequence {q} given to {len(seqs[q])} invoices: "
                                               f"{', '.join(sorted(seqs[q]))}", invoice_ids=tuple(sorted(seqs[q])),
                                               sequences=(q,)))
        for number, iids in sorted(by_number[series].items()):
            dup_seq = {q for (q, i) in rows[series] if i in iids}
            if len(iids) > 1 and not any(len(seqs[q]) > 1 for q in dup_seq):  # not already reported by sequence
                report.problems.append(Problem("duplicate", series, f"number {number} given to {len(iids)} invoices: "
                                               f"{', '.join(sorted(iids))}", invoice_ids=tuple(sorted(iids)),
                                               sequences=tuple(sorted(dup_seq))))
        ordered = sorted(rows[series].items())
        if ordered:
            (q0, _), (n0, d0) = ordered[0]
            (q1, _), (n1, d1) = ordered[-1]
            summary.first_sequence, summary.first_number, summary.first_issue_date = q0, n0, d0
            summary.last_sequence, summary.last_number, summary.last_issue_date = q1, n1, d1
            latest: tuple[int, str, date] | None = None
            for (q, iid), (number, issued) in ordered:
                if latest is not None and issued < latest[2] and q > latest[0]:
                    report.problems.append(Problem(
                        "date_order", series, f"{number} (sequence {q}) issued {issued.isoformat()}, before "
                        f"{latest[1]} (sequence {latest[0]}) issued {latest[2].isoformat()}",
                        invoice_ids=(iid,), sequences=(latest[0], q)))
                if latest is None or issued > latest[2]:
                    latest = (q, number, issued)
        summary.problems = len(report.problems) - first_problem
    # problems found before the per-series pass (re-sends) count for their series too
    for p in report.problems:
        if p.kind in ("renumbered", "resent_different", "key_mismatch") and p.series in report.series:
            report.series[p.series].problems += 1
    return report
