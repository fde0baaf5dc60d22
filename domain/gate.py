"""The gate before the number: what an invoice needs before it may be issued.

`check_draft` looks at a priced draft (`domain.billing.build_draft`, a credit note, a
cycle's invoice) for everything Art. 226 of Directive 2006/112/EC and EN 16931 require, and
for values no real invoice carries. A draft with problems takes no number: the caller parks
it on the dead-letter topic with `DraftRefused`'s text, which names every failing field and
value in a finance clerk's words and says what to do; once the data is fixed, a replay
issues it with the next number of its series.

Checked, in this order:

* seller and buyer: a name, and a postal address with street, city, postal code (where the
  country has postal codes) and an ISO 3166 country;
* VAT ids where the tax category needs them: the seller's (or its tax registration) for
  S, Z, E and AE, its VAT id for K and G (EN 16931 BR-S-02 … BR-G-02); the buyer's for K and
  AE (BR-K-02, BR-AE-02); none for O (BR-O-02);
* each tax category consistent with the two countries: no taxed sale without a buyer
  country (tax never guesses), K only between two EU countries, G only to a buyer outside
  the seller's country (and outside the EU for an EU seller);
* at least one line; no line with a quantity or unit price of zero or less, no allowance
  larger than its line; a total above zero (corrections are credit notes);
* a real ISO 4217 currency, not ``XXX``, ``XTS``, precious metals or accounting units;
* a supply date (and the issue date, once known) in a plausible window around the time the
  event reached us;
* totals equal to the sums of their parts (EN 16931 BR-CO-10 … BR-CO-16);
* amounts within the schema's 18 integer digits.

Text that XML 1.0 and the PDF cannot carry (control characters, lone surrogates) is cleaned
by `clean_text` when the draft is built, so it never reaches the gate.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping

from iso3166 import countries_by_alpha2

from domain.errors import PayloadError
from domain.money import NOT_CURRENCIES, ZERO, round_amount
from domain.tax import EU_COUNTRIES

__all__ = ["Problem", "DraftRefused", "GateRules", "check_draft", "refuse_if_invalid", "clean_text", "party_problems",
           "subject_of", "COUNTRIES"]

#: ISO 3166-1 alpha-2 codes, plus XI (Northern Ireland, which EN 16931's code list carries for VAT)
COUNTRIES = frozenset(countries_by_alpha2) | {"XI"}
#: countries without postal codes: their addresses are complete without one
NO_POSTAL_CODES = frozenset("AE AG AO AW BF BI BJ BO BS BW BZ CD CF CG CI CK CM DJ DM ER FJ GA GD GH GM GQ GY HK "
                            "KI KM KN KP LC ML MO MR MW NR NU QA RW SB SC SL SR SS ST SY TD TF TG TK TL TO TT TV "
                            "UG VU YE ZW".split())
#: categories whose rules need the seller's VAT id or tax registration (BR-S-02, BR-Z-02, BR-E-02, BR-AE-02)
_SELLER_ID_OR_REGISTRATION = frozenset({"S", "Z", "E", "AE", "L", "M"})
#: … and those that need its VAT id itself (BR-K-02, BR-G-02)
_SELLER_VAT_ID = frozenset({"K", "G"})
_MAX_AMOUNT = Decimal(10) ** 15
_CATEGORY_WORDS = {"S": "standard-rated VAT", "Z": "zero-rated VAT", "E": "VAT exemption", "AE": "reverse charge",
                   "K": "intra-EU supply", "G": "export", "O": "'not subject to VAT'", "L": "Canary Islands tax",
                   "M": "Ceuta and Melilla tax"}


@dataclass(frozen=True)
class Problem:
    """One reason a draft cannot be issued: the field, its value, and what is wrong and what to do."""

    field: str
    value: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class GateRules:
    """Seller-independent limits (settings may change them)."""

    #: a supply date further back than this from the time the event reached us is refused
    max_supply_age_days: int = 1096
    #: … and one further ahead than this
    max_supply_lead_days: int = 31


class DraftRefused(PayloadError):
    """A draft that may not be numbered; ``problems`` lists every failing field."""

    def __init__(self, subject: str, problems: list[Problem]) -> None:
        self.subject = subject
        self.problems = problems
        super().__init__(f"{subject} cannot be issued: " + "; ".join(p.message for p in problems))


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: Any) -> Any:
    """*value* with characters XML 1.0 and the PDF cannot carry (C0/C1 controls but tab and line
    breaks, lone surrogates, U+FFFE/U+FFFF) replaced by spaces, runs of spaces collapsed, ends
    stripped, in NFC; non-strings unchanged."""
    if not isinstance(value, str):
        return value
    if _CONTROL.search(value) is None and value == value.strip():
        return unicodedata.normalize("NFC", value)
    return unicodedata.normalize("NFC", re.sub(r"[ ]{2,}", " ", _CONTROL.sub(" ", value)).strip())


def subject_of(draft: Mapping[str, Any]) -> str:
    kind = "credit note" if draft.get("document_type") == "CREDIT_NOTE" else "invoice"
    origin = ""
    lineage = draft.get("lineage") or []
    if lineage:
        first = lineage[0]
        platform = str(first.get("platform") or "")
        order = str(first.get("order_key") or "").partition(":")[2]
        more = f" and {len(draft.get('orders') or []) - 1} more" if len(draft.get("orders") or []) > 1 else ""
        origin = f" ({platform} order {order}{more})" if order else f" ({platform})"
    return f"{kind} for customer {draft.get('customer_id')}{origin}"


def _party_problems(role: str, party: Mapping[str, Any], fix: str) -> list[Problem]:
    out: list[Problem] = []
    name = str(party.get("name") or "").strip()
    if not name:
        out.append(Problem(f"{role}.name", "", f"{role} name missing: {fix}"))
    addr = party.get("address") or {}
    country = str(addr.get("country") or "").strip().upper()
    missing = [label for key, label in (("line1", "street"), ("city", "city")) if not str(addr.get(key) or "").strip()]
    if not str(addr.get("postal_code") or "").strip() and country not in NO_POSTAL_CODES:
        missing.append("postal code")
    if not country:
        missing.append("country")
    if missing:
        what = "address missing" if len(missing) >= 3 else "address lacks " + " and ".join(missing)
        out.append(Problem(f"{role}.address", _address_text(addr), f"{role} {what}"
                           f"{f' ({_address_text(addr)})' if _address_text(addr) else ''}: {fix}"))
    elif country not in COUNTRIES:
        out.append(Problem(f"{role}.address.country", country,
                           f"{role} country {country!r} is not an ISO 3166 country code: {fix}"))
    return out


def party_problems(draft: Mapping[str, Any]) -> list[Problem]:
    """What the seller's and the buyer's names and addresses lack (``seller``, ``buyer`` of *draft*)."""
    return (_party_problems("seller", draft["seller"], _seller_fix(draft))
            + _party_problems("buyer", draft["buyer"], _buyer_fix(draft)))


def _address_text(addr: Mapping[str, Any]) -> str:
    return ", ".join(str(addr.get(k)) for k in ("line1", "city", "postal_code", "country") if addr.get(k))


def _buyer_fix(draft: Mapping[str, Any]) -> str:
    cid = str(draft.get("customer_id") or "")
    platform = str(((draft.get("lineage") or [{}])[0]).get("platform") or "the platform")
    return (f"add the customer to the reference data (customer_id, name, address with country, VAT id; "
            f"external_ids: [\"{cid}\"]) or complete its record in {platform}, then replay this dead letter")


def _seller_fix(draft: Mapping[str, Any]) -> str:
    return (f"complete seller {draft['seller'].get('party_id')} in the reference data "
            "(invoicing reference load), then replay this dead letter")


def _tax_problems(draft: Mapping[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    seller, buyer = draft["seller"], draft["buyer"]
    s_country = str((seller.get("address") or {}).get("country") or "").upper()
    b_country = str((buyer.get("address") or {}).get("country") or "").upper()
    categories = {str(g["category"]) for g in draft.get("tax_breakdown") or []}
    categories |= {str(ln["tax_category"]) for ln in draft.get("lines") or []}
    buyer_fix, seller_fix = _buyer_fix(draft), _seller_fix(draft)
    for cat in sorted(categories):
        words = _CATEGORY_WORDS.get(cat, f"tax category {cat}")
        if cat in _SELLER_VAT_ID and not seller.get("vat_id"):
            out.append(Problem("seller.vat_id", "", f"seller VAT id missing, which an invoice with {words} needs "
                                                    f"(EN 16931 BR-{cat}-02): {seller_fix}"))
        elif cat in _SELLER_ID_OR_REGISTRATION and not (seller.get("vat_id") or seller.get("tax_registration")):
            out.append(Problem("seller.vat_id", "", f"seller VAT id or tax registration missing, which an invoice "
                                                    f"with {words} needs (EN 16931 BR-{cat}-02): {seller_fix}"))
        if cat in ("K", "AE") and not buyer.get("vat_id"):
            out.append(Problem("buyer.vat_id", "", f"buyer VAT id missing, which {words} needs "
                                                   f"(EN 16931 BR-{cat}-02): {buyer_fix}"))
        if cat == "O" and (seller.get("vat_id") or buyer.get("vat_id")):
            out.append(Problem("tax_category", cat, f"{words} may not name a VAT id (EN 16931 BR-O-02), but the "
                                                    "seller or buyer has one: check the tax setup of the seller"))
        if cat != "O" and not b_country:
            out.append(Problem("buyer.address.country", "", f"buyer country unknown, so the tax cannot be decided "
                                                            f"(never taxed as domestic): {buyer_fix}"))
            continue
        if cat == "K" and not (s_country in EU_COUNTRIES and b_country in EU_COUNTRIES and s_country != b_country):
            out.append(Problem("tax_category", cat, f"{words} needs seller and buyer in two different EU countries "
                                                    f"(seller {s_country}, buyer {b_country}): check the buyer's country"))
        if cat == "G" and (b_country == s_country or (s_country in EU_COUNTRIES and b_country in EU_COUNTRIES)):
            out.append(Problem("tax_category", cat, f"{words} needs a buyer outside the seller's country and the EU "
                                                    f"(seller {s_country}, buyer {b_country}): check the buyer's country"))
        if cat == "S" and s_country in EU_COUNTRIES and b_country in EU_COUNTRIES and b_country != s_country \
                and buyer.get("vat_id") and _is_goods(draft, cat):
            out.append(Problem("tax_category", cat, f"{words} on goods sold to a business in another EU country "
                                                    f"(buyer VAT id {buyer.get('vat_id')}) should be an intra-EU "
                                                    "supply: check the product's tax category"))
    return out


def _is_goods(draft: Mapping[str, Any], category: str) -> bool:
    return any(ln["tax_category"] == category for ln in draft.get("lines") or [])


def _line_problems(draft: Mapping[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    lines = draft.get("lines") or []
    if not lines:
        return [Problem("lines", "", "no lines to invoice: check the order on the platform")]
    for i, ln in enumerate(lines, 1):
        what = f"line {i} ({ln.get('sku') or ln.get('description') or 'item'})"
        qty, price, allowance = Decimal(ln["quantity"]), Decimal(ln["unit_price"]), Decimal(ln.get("allowance") or 0)
        if qty <= 0:
            out.append(Problem(f"lines[{i}].quantity", f"{qty.normalize():f}", f"{what}: quantity {qty.normalize():f} "
                               "is not above zero; a return or correction is a credit note: fix the order on the platform"))
        if price <= 0:
            out.append(Problem(f"lines[{i}].unit_price", f"{price.normalize():f}", f"{what}: unit price "
                               f"{price.normalize():f} is not above zero: fix the price on the platform"))
        if allowance < 0 or Decimal(ln["net_amount"]) < 0:  # pricing makes a whole-line discount 0.00, never less
            out.append(Problem(f"lines[{i}].allowance", f"{allowance.normalize():f}", f"{what}: discount "
                               f"{allowance.normalize():f} is larger than the line ({(qty * price).normalize():f}) or "
                               "negative: fix the discount on the platform"))
    return out


def _total_problems(draft: Mapping[str, Any]) -> list[Problem]:
    cur = str(draft["currency"])
    lines, groups = draft.get("lines") or [], draft.get("tax_breakdown") or []
    out: list[Problem] = []
    for name in ("line_total", "tax_total", "total"):
        if abs(Decimal(draft[name])) >= _MAX_AMOUNT:
            return [Problem(name, f"{Decimal(draft[name]):f}", f"{name.replace('_', ' ')} {Decimal(draft[name]):f} "
                            f"{cur} is implausibly large: check quantities and prices on the platform")]
    line_total = sum((Decimal(ln["net_amount"]) for ln in lines), ZERO)
    by_group: dict[tuple[str, Decimal], Decimal] = {}
    for ln in lines:
        key = (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        by_group[key] = by_group.get(key, ZERO) + Decimal(ln["net_amount"])
    for g in groups:
        key = (str(g["category"]), Decimal(g["rate"]))
        base, tax = Decimal(g["taxable_amount"]), Decimal(g["tax_amount"])
        if by_group.pop(key, None) != base or round_amount(base * key[1] / 100, cur) != tax:
            out.append(Problem("tax_breakdown", f"{key[0]} {key[1].normalize():f}%", f"VAT group {key[0]} "
                               f"{key[1].normalize():f}% does not add up: internal error, report it"))
    if by_group:
        out.append(Problem("tax_breakdown", ", ".join(k[0] for k in by_group), "lines without a VAT group: internal error, report it"))
    tax_total = sum((Decimal(g["tax_amount"]) for g in groups), ZERO)
    expected = {"line_total": line_total, "tax_exclusive_total": line_total + Decimal(draft.get("charge_total") or 0),
                "tax_total": tax_total}
    expected["total"] = expected["tax_exclusive_total"] + tax_total
    expected["amount_due"] = expected["total"] - Decimal(draft.get("prepaid") or 0)
    for name, value in expected.items():
        if Decimal(draft[name]) != value:
            out.append(Problem(name, f"{Decimal(draft[name]):f}", f"{name.replace('_', ' ')} {Decimal(draft[name]):f} "
                               f"is not the sum of its parts ({value:f}): internal error, report it"))
    if not out and expected["total"] <= 0:
        out.append(Problem("total", f"{expected['total']:f}", f"total {expected['total']:f} {cur} is not above zero; "
                           "corrections are credit notes: fix the order on the platform"))
    return out


def _date_problems(draft: Mapping[str, Any], reference: date | None, rules: GateRules) -> list[Problem]:
    if reference is None:
        return []
    out: list[Problem] = []
    earliest, latest = reference - timedelta(days=rules.max_supply_age_days), reference + timedelta(days=rules.max_supply_lead_days)
    for name in ("supply_date", "issue_date"):
        value = draft.get(name)
        if not isinstance(value, date) or (name == "issue_date" and value.year == 1970):
            continue  # a draft has no issue date yet
        if not earliest <= value <= latest:
            out.append(Problem(name, value.isoformat(), f"{name.replace('_', ' ')} {value.isoformat()} is outside "
                               f"{earliest.isoformat()} … {latest.isoformat()}: check the order's dates on the platform"))
    return out


def check_draft(draft: Mapping[str, Any], *, reference_date: date | None = None,
                rules: GateRules = GateRules()) -> list[Problem]:
    """Every reason *draft* may not be issued (empty: it may). *reference_date* is when its events
    reached us; dates are judged against it (``None``: not judged)."""
    problems: list[Problem] = []
    currency = str(draft.get("currency") or "")
    if currency in NOT_CURRENCIES:
        problems.append(Problem("currency", currency, f"currency {currency} is {NOT_CURRENCIES[currency]}, not money an "
                                                      "invoice can be issued in: fix the order's currency on the platform"))
        return problems
    problems += party_problems(draft)
    problems += _tax_problems(draft)
    problems += _line_problems(draft)
    problems += _date_problems(draft, reference_date, rules)
    if not any(p.field.startswith("lines") for p in problems):
        problems += _total_problems(draft)
    return _unique(problems)


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.message not in seen:
            seen.add(p.message)
            out.append(p)
    return out


def refuse_if_invalid(draft: Mapping[str, Any], *, reference_date: date | None = None,
                      rules: GateRules = GateRules()) -> None:
    """`check_draft`, raising.

    Raises:
        DraftRefused: the draft may not be issued; the message names every problem.
    """
    problems = check_draft(draft, reference_date=reference_date, rules=rules)
    if problems:
        raise DraftRefused(subject_of(draft), problems)
