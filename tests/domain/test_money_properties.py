"""Property-based tests of the billing core: exact money, EN 16931 rounding, determinism.

Random orders (1-40 lines, fractional quantities, 4-decimal prices, discounts, shipping,
tax-included prices, prepayments) in random ISO 4217 currencies, sold by a German, French
or US legal entity to random buyers, go through `build_draft` and `issue` exactly as the
``bill`` and ``issue`` agents call them. The oracle below recomputes everything from the
invoice's own fields with EN 16931's rules, independently of `domain.billing`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.billing import build_draft, credit_note_draft, issue, price_draft
from domain.gate import DraftRefused
from domain.codec import decode, encode
from domain.documents.cii import render_cii
from domain.documents.ubl import render_ubl, ubl_profile
from domain.documents.validate import validate_cii, validate_ubl
from domain.reference import Customer, Product, ReferenceData, Seller
from domain.tax import EU_COUNTRIES, TaxTable
from domain.terms import parse_terms

D = Decimal
#: currency -> ISO 4217 minor units (written out here, not read from the code under test)
CURRENCIES = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0, "ISK": 0, "KWD": 3, "BHD": 3, "CLF": 4}
AMOUNT_FIELDS = ("line_total", "charge_total", "tax_exclusive_total", "tax_total", "total", "prepaid", "amount_due")

SELLERS = {
    "DE": Seller("acme-de", "Acme GmbH", {"line1": "Weg 1", "line2": None, "city": "Hamburg", "postal_code": "20457",
                                          "region": None, "country": "DE"}, vat_id="DE811569869", invoice_prefix="INV"),
    "FR": Seller("acme-fr", "Acme SAS", {"line1": "Rue 2", "line2": None, "city": "Lyon", "postal_code": "69007",
                                         "region": None, "country": "FR"}, vat_id="FR40303265045", invoice_prefix="FA"),
    "US": Seller("acme-us", "Acme Inc.", {"line1": "1 Main St", "line2": None, "city": "Houston", "postal_code": "77002",
                                          "region": "TX", "country": "US"}, invoice_prefix="USI"),
}
VAT = {"DE": D("19"), "FR": D("20"), "NL": D("21"), "AT": D("20"), "IT": D("22"), "FI": D("25.5")}
STATES = {"CA": D("7.25"), "TX": D("6.25"), "NY": D("4"), "WA": D("6.5"), "IL": D("6.25")}
PRODUCTS = {
    "STD": Product("STD", "Compressor"),
    # rates abroad are for One-Stop-Shop sales (a product with its own rate and none for the destination is refused)
    "RED7": Product("RED7", "Book", tax_category="S", tax_rate=D("7"),
                    tax_rates={"FR": D("5.5"), "NL": D("9"), "AT": D("10"), "IT": D("4"), "DE": D("7")}),
    "RED55": Product("RED55", "Food", tax_category="S", tax_rate=D("5.5"), tax_rates={"DE": D("7"), "FI": D("14")}),
    "ZERO": Product("ZERO", "Export kit", tax_category="Z", tax_rate=D("0"),
                    tax_rates={c: D(0) for c in ("DE", "FR", "NL", "AT", "IT", "FI")}),
    "EXEMPT": Product("EXEMPT", "Training", tax_category="E"),
    "SVC": Product("SVC", "Maintenance", service=True),
    "SVC7": Product("SVC7", "Service, reduced", tax_category="S", tax_rate=D("7"), service=True),
}


def reference() -> ReferenceData:
    ref = ReferenceData(tax=TaxTable.from_mapping({"vat_rates": {k: str(v) for k, v in VAT.items()},
                                                   "us_state_rates": {k: str(v) for k, v in STATES.items()}}))
    ref.sellers.update({s.seller_id: s for s in SELLERS.values()})
    ref.products.update(PRODUCTS)
    return ref


REF = reference()


def places(currency: str) -> int:
    return min(CURRENCIES[currency], 2)


def half_up(value: Decimal, currency: str) -> Decimal:
    return value.quantize(D(1).scaleb(-places(currency)), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- strategies

def scaled(lo: int, hi: int, scale: int = 4) -> st.SearchStrategy[Decimal]:
    return st.integers(lo, hi).map(lambda n: D(n).scaleb(-scale))


quantities = st.one_of(st.integers(1, 500).map(D), scaled(1, 10_000_000), scaled(1, 1000))
prices = st.one_of(scaled(0, 10_000_000_000), scaled(0, 100_000), st.integers(0, 100_000).map(D), scaled(1, 9_999, 2),
                   scaled(1, 99_999, 3))
stated_rates = st.one_of(st.none(), st.sampled_from([D("0"), D("7"), D("19"), D("20"), D("8.875")]))


@st.composite
def order_lines(draw: Any, count: int) -> list[dict[str, Any]]:
    lines = []
    for _ in range(count):
        qty, price = draw(quantities), draw(prices)
        gross = qty * price
        pct = draw(st.sampled_from([0, 0, 0, 5, 10, 33, 50, 100, 100]))
        discount = (gross * pct / 100).quantize(D("0.0001"), rounding="ROUND_DOWN")
        lines.append({"sku": draw(st.sampled_from([None, *PRODUCTS])), "description": draw(st.sampled_from(["", "Part"])),
                      "quantity": qty, "unit_price": price, "discount": discount, "tax_rate": draw(stated_rates)})
    return lines


@st.composite
def buyers(draw: Any, seller_country: str) -> Customer:
    kind = draw(st.sampled_from(["same", "eu", "non-eu", "us"]))
    country = {"same": seller_country, "eu": draw(st.sampled_from(["FR", "NL", "AT", "IT", "FI", "DE"])),
               "non-eu": draw(st.sampled_from(["NO", "CH", "GB", "JP", "CA"])), "us": "US"}[kind]
    region = draw(st.sampled_from([*STATES, "OR", None])) if country == "US" else None
    vat_id = draw(st.sampled_from([None, f"{country}123456789"]))
    return Customer(
        customer_id=f"C-{country}-{region}", name="Buyer Ltd", email="ap@buyer.example",
        address={"line1": "Street 1", "line2": None, "city": "City", "postal_code": "1000", "region": region,
                 "country": country},
        vat_id=vat_id, resale_certificate=draw(st.booleans()),
        payment_terms=draw(st.sampled_from([None, "NET15", "NET30", "NET60", "EOM", "EOM30", "2/10-NET30", "DUE"])),
    )


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    seller_country = draw(st.sampled_from(sorted(SELLERS)))
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    customer = draw(buyers(seller_country))
    total_lines = draw(st.integers(1, 40))
    n_orders = draw(st.integers(1, min(3, total_lines)))
    cuts = sorted(draw(st.lists(st.integers(1, total_lines - 1), min_size=n_orders - 1, max_size=n_orders - 1,
                                unique=True))) if n_orders > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total_lines])]
    base = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=draw(st.integers(0, 60 * 24 * 800)))
    orders = []
    for i, size in enumerate(sizes):
        trigger = draw(st.sampled_from(["PAYMENT_RECEIVED", "SHIPMENT_CONFIRMED", "CYCLE_END"]))
        paid = draw(st.one_of(st.none(), scaled(0, 100_000_000, 2)))
        order = {
            "event_key": f"shopify:ev{i}", "platform": "shopify", "event_id": f"ev{i}", "event_type": "orders/paid",
            "trigger": trigger, "occurred_at": base + timedelta(hours=i), "received_at": base + timedelta(hours=i),
            "order_key": f"ord-{i}", "external_order_id": f"{1000 + i}", "order_number": f"#{1000 + i}",
            "customer_ref": None,
            "customer": {"name": customer.name, "email": customer.email, "vat_id": customer.vat_id,
                         "address": customer.address},
            "currency": currency.lower() if draw(st.booleans()) else currency,
            "tax_included": draw(st.booleans()),
            "lines": draw(order_lines(size)),
            "shipping": draw(st.one_of(st.just(D(0)), scaled(0, 5_000_000))),
            "announced_total": None, "amount_paid": paid, "purchase_order": None,
            "dedup_keys": [], "attributes": {},
        }
        # exactly what the bill agent sees: the order event after its Avro round trip
        orders.append(decode("order_event", encode("order_event", order)))
    seller = SELLERS[seller_country]
    if seller_country in EU_COUNTRIES and draw(st.booleans()):
        seller = replace(seller, eu_oss=True)  # registered for the One-Stop Shop
    return {"seller": seller, "customer": customer, "orders": orders, "currency": currency,
            "issued_at": base + timedelta(days=draw(st.integers(0, 40)), seconds=draw(st.integers(0, 86399))),
            "sequence": draw(st.integers(1, 999_999))}


def refused(sc: dict[str, Any]) -> bool:
    """Whether the oracle refuses a line of the scenario (a One-Stop-Shop sale it has no rate for)."""
    return any(expected_decision(sc["seller"].address["country"], sc["customer"], ln["sku"], ln["tax_rate"],
                                 sc["seller"].eu_oss) is None for o in sc["orders"] for ln in o["lines"])


def priced(sc: dict[str, Any]) -> dict[str, Any]:
    """The scenario's draft as `price_draft` prices it (before the gate), checked against the oracle's refusals."""
    if refused(sc):
        with pytest.raises(DraftRefused, match="needs its .. rate in the product's tax_rates"):
            price_draft(sc["orders"], customer=sc["customer"], seller=sc["seller"], reference=sc.get("ref", REF),
                        trigger=sc["orders"][-1]["trigger"], targets=["folder"])
        assume(False)
    return price_draft(sc["orders"], customer=sc["customer"], seller=sc["seller"], reference=sc.get("ref", REF),
                       trigger=sc["orders"][-1]["trigger"], targets=["folder"])


def build(sc: dict[str, Any]) -> dict[str, Any]:
    """The scenario priced and numbered as the agents do it (the gate is `test_the_gate_refuses_what_the_law_refuses`)."""
    return issue(priced(sc), sequence=sc["sequence"], issued_at=sc["issued_at"], seller=sc["seller"])


def gate_refusals(sc: dict[str, Any], draft: dict[str, Any]) -> set[str]:
    """What the gate must refuse in a priced scenario, from the law (EN 16931 and Art. 226), not from gate.py:
    a zero unit price, an export (G) by a seller without a VAT id (BR-G-02), a taxed or exempt sale by a seller
    with neither VAT id nor tax registration (BR-S-02, BR-Z-02, BR-E-02, BR-AE-02), 'not subject to VAT' (O) naming
    a buyer VAT id (BR-O-02), a total not above zero (corrections are credit notes)."""
    seller_country = sc["seller"].address["country"]
    out = set()
    if any(ln["unit_price"] == 0 for o in sc["orders"] for ln in o["lines"]):
        out.add("unit price 0")
    decisions = {expected_decision(seller_country, sc["customer"], ln["sku"], ln["tax_rate"], sc["seller"].eu_oss)
                 for o in sc["orders"] for ln in o["lines"]}
    if sc["orders"] and any(o["shipping"] for o in sc["orders"]):
        decisions.add(expected_decision(seller_country, sc["customer"], None, None, sc["seller"].eu_oss))
    categories = {d[0] for d in decisions if d}
    if "G" in categories and not sc["seller"].vat_id:
        out.add("BR-G-02")
    for cat in categories & {"S", "Z", "E", "AE"}:
        if not (sc["seller"].vat_id or sc["seller"].tax_registration):
            out.add(f"BR-{cat}-02")
    if "O" in categories and (sc["seller"].vat_id or sc["customer"].vat_id):
        out.add("BR-O-02")
    if draft["total"] <= 0:
        out.add("is not above zero")
    return out


# ---------------------------------------------------------------- oracle

def expected_decision(seller: str, customer: Customer, sku: str | None, stated: Decimal | None,
                      oss: bool = False) -> tuple[str, Decimal] | None:
    """The tax rules, written from the module docs and EINVOICING.md (not from tax.py); None: refused."""
    product = PRODUCTS.get(sku) if sku else None
    buyer = customer.address["country"]
    if oss and buyer != seller and buyer in EU_COUNTRIES and not customer.vat_id and not (product and product.service):
        # One-Stop Shop: goods to a consumer in another EU country carry the destination's VAT
        if product and buyer in product.tax_rates:
            rate = product.tax_rates[buyer]
            return ("S", rate) if rate else ("Z", D(0))
        if product and (product.tax_rate is not None or product.tax_category not in (None, "S")):
            return None
        return "S", VAT[buyer]
    if seller in EU_COUNTRIES:
        domestic_like = buyer == seller or (buyer in EU_COUNTRIES and not customer.vat_id)
        if domestic_like:
            if product and product.tax_category and product.tax_category != "S":
                return product.tax_category, product.tax_rate or D(0)
            if product and product.tax_rate is not None:
                return "S", product.tax_rate
            return "S", VAT[seller]
        if buyer in EU_COUNTRIES:
            return ("AE" if product and product.service else "K"), D(0)
        return "G", D(0)
    assert seller == "US"
    if buyer != "US":
        return "G", D(0)
    if customer.resale_certificate:
        return "E", D(0)
    rate = STATES.get(customer.address["region"] or "", D(0))
    return ("S", rate) if rate else ("O", D(0))


def walk(value: Any, path: str = "$") -> list[tuple[str, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += walk(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            out += walk(v, f"{path}[{i}]")
    return out


def decimals_of(inv: dict[str, Any]) -> list[tuple[str, Decimal]]:
    return [(p, v) for p, v in walk(inv) if isinstance(v, Decimal)]


def amounts_of(inv: dict[str, Any]) -> list[tuple[str, Decimal]]:
    out = [(f, inv[f]) for f in AMOUNT_FIELDS]
    for i, ln in enumerate(inv["lines"]):
        out += [(f"lines[{i}].net_amount", ln["net_amount"]), (f"lines[{i}].allowance", ln["allowance"])]
    for i, g in enumerate(inv["tax_breakdown"]):
        out += [(f"tax_breakdown[{i}].taxable_amount", g["taxable_amount"]),
                (f"tax_breakdown[{i}].tax_amount", g["tax_amount"])]
    return out


def check_invoice(sc: dict[str, Any], inv: dict[str, Any]) -> None:
    cur = sc["currency"]
    assert inv["currency"] == cur
    # no float anywhere, every number exact
    floats = [p for p, v in walk(inv) if isinstance(v, float)]
    assert not floats, f"floats at {floats}"
    # lines: one per order line (+ shipping), net = half_up(qty x price - allowance)
    items = [(o, ln) for o in sc["orders"] for ln in o["lines"]]
    assert len(inv["lines"]) == len(items) + sum(1 for o in sc["orders"] if o["shipping"])
    src = iter(inv["lines"])
    for order in sc["orders"]:
        for item in order["lines"]:
            ln = next(src)
            assert ln["quantity"] == item["quantity"]
            net = half_up(ln["quantity"] * ln["unit_price"] - ln["allowance"], cur)
            if net < 0 and item["discount"] <= item["quantity"] * item["unit_price"]:
                net = D(0)  # a whole-line discount half a minor unit past the gross: free, not negative
            assert ln["net_amount"] == net, ln
            if not order["tax_included"] or not item["tax_rate"]:
                assert ln["unit_price"] == item["unit_price"]
                assert ln["allowance"] == half_up(item["discount"], cur)
            else:  # price and discount net of the stated tax; unit price to 4 decimals
                factor = 1 + item["tax_rate"] / 100
                assert abs(ln["unit_price"] * factor - item["unit_price"]) <= D("0.00005") * factor
                assert ln["allowance"] == half_up(item["discount"] / factor, cur)
            assert (ln["tax_category"], ln["tax_rate"]) == expected_decision(
                sc["seller"].address["country"], sc["customer"], item["sku"], item["tax_rate"], sc["seller"].eu_oss), item
        if order["shipping"]:
            ln = next(src)
            goods_rate = next((i["tax_rate"] for i in order["lines"] if i["tax_rate"] is not None), None)
            shipping_net = order["shipping"]
            if order["tax_included"] and goods_rate:  # shipping of a tax-included order includes VAT too
                shipping_net = (shipping_net / (1 + goods_rate / 100)).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
            assert ln["description"] == "Shipping" and ln["net_amount"] == half_up(shipping_net, cur)
    # tax groups: one per (category, rate), tax on the group's sum, half-up; never the per-line sum
    groups: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for ln in inv["lines"]:
        groups[(ln["tax_category"], ln["tax_rate"])] += ln["net_amount"]
    got = {(g["category"], g["rate"]): g for g in inv["tax_breakdown"]}
    assert len(got) == len(inv["tax_breakdown"]), "one subtotal per (category, rate)"
    assert set(got) == set(groups)
    for key, taxable in groups.items():
        assert got[key]["taxable_amount"] == taxable
        assert got[key]["tax_amount"] == half_up(taxable * key[1] / 100, cur)
        if key[0] != "S":
            assert got[key]["tax_amount"] == 0
    # document totals: exact sums (BR-CO-10, -13, -14, -15, -16)
    assert inv["line_total"] == sum((ln["net_amount"] for ln in inv["lines"]), D(0))
    assert inv["tax_exclusive_total"] == inv["line_total"] + inv["charge_total"]
    assert inv["tax_total"] == sum((g["tax_amount"] for g in inv["tax_breakdown"]), D(0))
    assert inv["total"] == inv["tax_exclusive_total"] + inv["tax_total"]
    assert inv["amount_due"] == inv["total"] - inv["prepaid"]
    paid = sum((o["amount_paid"] for o in sc["orders"]
                if o["amount_paid"] is not None and o["trigger"] == "PAYMENT_RECEIVED"), D(0))
    assert inv["prepaid"] == (min(half_up(paid, cur), inv["total"]) if inv["total"] > 0 else 0)
    # discounts never exceed the gross here, so nothing is negative
    assert inv["total"] >= 0 and inv["amount_due"] >= 0 and inv["prepaid"] >= 0
    # amounts carry at most the currency's decimals, and never more than 2 (EN 16931 BR-DEC)
    for path, amount in amounts_of(inv):
        assert amount == half_up(amount, cur), f"{path}={amount} has more than {places(cur)} decimals"
    # numbering and dates
    assert inv["sequence"] == sc["sequence"]
    assert inv["number"] == f"{sc['seller'].invoice_prefix}-{sc['issued_at'].year}-{sc['sequence']:06d}"
    assert inv["series"] == f"{sc['seller'].seller_id}/INVOICE"
    assert inv["issue_date"] == sc["issued_at"].date() <= inv["due_date"]
    terms = parse_terms(sc["customer"].payment_terms or "NET30")
    assert inv["payment_terms_code"] == terms.code
    assert (inv["due_date"], inv["payment_terms"]) == (terms.due_date(inv["issue_date"]), terms.text(inv["issue_date"]))


PROFILE = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROFILE
@given(scenarios())
def test_the_gate_refuses_what_the_law_refuses(sc: dict[str, Any]) -> None:
    """`build_draft` (pricing, then the gate) refuses a scenario exactly when the law's oracle says so, naming why."""
    draft = priced(sc)
    expected = gate_refusals(sc, draft)
    call = dict(customer=sc["customer"], seller=sc["seller"], reference=sc.get("ref", REF),
                trigger=sc["orders"][-1]["trigger"], targets=["folder"])
    if not expected:
        assert build_draft(sc["orders"], **call) == draft
        return
    with pytest.raises(DraftRefused) as refusal:
        build_draft(sc["orders"], **call)
    for reason in expected:
        assert reason in str(refusal.value), (reason, str(refusal.value))


@PROFILE
@given(scenarios())
def test_totals_tax_and_rounding_are_exact(sc: dict[str, Any]) -> None:
    check_invoice(sc, build(sc))


@PROFILE
@given(scenarios())
def test_avro_round_trip_keeps_every_decimal_and_is_deterministic(sc: dict[str, Any]) -> None:
    inv = build(sc)
    data = encode("invoice", inv)
    back = decode("invoice", data)
    before, after = decimals_of(inv), decimals_of(back)
    assert [p for p, _ in before] == [p for p, _ in after]
    for (path, a), (_, b) in zip(before, after):
        assert a == b, f"{path}: {a} became {b}"
    assert not [p for p, v in walk(back) if isinstance(v, float)]
    assert not [p for p, v in before if v.is_signed() and not v], "no negative zero"
    assert encode("invoice", back) == data, "decode/encode is the identity on the wire"
    check_invoice(sc, back)
    # its credit note reverses it in full, in its own series, with the same exact amounts
    cn = decode("invoice", encode("invoice", issue(credit_note_draft(back, reason="cancelled"), sequence=1,
                                                   issued_at=sc["issued_at"] + timedelta(days=1), seller=sc["seller"])))
    assert cn["series"] == f"{sc['seller'].seller_id}/CREDIT_NOTE" and cn["preceding_invoice"] == back["number"]
    assert [cn[f] for f in ("line_total", "tax_total", "total")] == [back[f] for f in ("line_total", "tax_total", "total")]
    assert cn["prepaid"] == 0 and cn["amount_due"] == cn["total"]
    # the same orders, billed again (a replay), give the same bytes
    again = decode("order_event", encode("order_event", sc["orders"][0]))
    assert encode("invoice", build({**sc, "orders": [again, *sc["orders"][1:]]})) == data


def test_group_tax_is_not_the_sum_of_line_tax() -> None:
    """3 x 0.02 EUR at 19 %: per line 0.0038 -> 0.00 each; the group 0.06 x 19 % = 0.0114 -> 0.01."""
    sc = single(["0.02", "0.02", "0.02"], "EUR", "DE")
    inv = build(sc)
    assert [g["tax_amount"] for g in inv["tax_breakdown"]] == [D("0.01")]
    assert inv["total"] == D("0.07")


def test_group_tax_rounds_half_up_not_half_even() -> None:
    """0.10 x 25 % = 0.025: half-up 0.03 (Decimal's default half-even would give 0.02)."""
    sc = single(["0.10"], "EUR", "DE", rate="25")
    assert build(sc)["tax_total"] == D("0.03")
    sc = single(["2.50"], "JPY", "DE", rate="20")  # 2.5 yen -> 3 net, 3 x 20 % = 0.6 -> 1
    inv = build(sc)
    assert inv["line_total"] == D("3") and inv["tax_total"] == D("1") and inv["total"] == D("4")


def test_kwd_amounts_carry_two_decimals_under_en16931() -> None:
    sc = single(["1.2345", "0.0050"], "KWD", "DE")
    inv = build(sc)
    assert [ln["net_amount"] for ln in inv["lines"]] == [D("1.23"), D("0.01")]
    assert inv["tax_total"] == D("0.24")  # 1.24 x 19 % = 0.2356


def single(prices: list[str], currency: str, seller: str, rate: str | None = None) -> dict[str, Any]:
    seller_obj = SELLERS[seller]
    customer = Customer("C-1", "Buyer", dict(seller_obj.address, region=None), payment_terms="NET30")
    order = {
        "event_key": "x:1", "platform": "x", "event_id": "1", "event_type": "t", "trigger": "SHIPMENT_CONFIRMED",
        "occurred_at": datetime(2026, 3, 1, tzinfo=timezone.utc), "received_at": datetime(2026, 3, 1, tzinfo=timezone.utc),
        "order_key": "o-1", "external_order_id": "1", "order_number": None, "customer_ref": None,
        "customer": {"name": "Buyer", "email": None, "vat_id": None, "address": customer.address},
        "currency": currency, "tax_included": False, "shipping": D(0), "announced_total": None, "amount_paid": None,
        "purchase_order": None, "dedup_keys": [], "attributes": {},
        "lines": [{"sku": None, "description": "x", "quantity": D(1), "unit_price": D(p), "discount": D(0),
                   "tax_rate": None} for p in prices],
    }
    sc: dict[str, Any] = {"seller": seller_obj, "customer": customer, "currency": currency,
                          "orders": [decode("order_event", encode("order_event", order))],
                          "issued_at": datetime(2026, 3, 2, 10, tzinfo=timezone.utc), "sequence": 1}
    if rate:
        sc["ref"] = reference()
        sc["ref"].tax = TaxTable.from_mapping({"vat_rates": {seller: rate}})
    return sc


def test_whole_line_discount_never_makes_the_line_negative() -> None:
    """10.005 EUR with a 100 % discount of 10.005: the allowance shows 10.01, the line is 0.00, not -0.01."""
    sc = single(["10.005", "9.9999"], "EUR", "DE")
    for ln in sc["orders"][0]["lines"]:
        ln["discount"] = ln["unit_price"]
    inv = build(sc)
    assert [(ln["allowance"], ln["net_amount"]) for ln in inv["lines"]] == [(D("10.01"), D("0.00")), (D("10.00"), D("0.00"))]
    assert not any(ln["net_amount"].is_signed() for ln in inv["lines"]), "no -0.00"
    assert inv["total"] == 0 and inv["amount_due"] == 0


def test_tax_included_discount_is_taken_net_of_tax() -> None:
    """119.00 incl. 19 % less 11.90 incl.: net 100.00 - 10.00 = 90.00, VAT 17.10, total 107.10 = 119.00 - 11.90."""
    sc = single(["119.00"], "EUR", "DE")
    order = sc["orders"][0]
    order["tax_included"] = True
    order["lines"][0].update(tax_rate=D("19"), discount=D("11.90"))
    inv = build(sc)
    ln = inv["lines"][0]
    assert (ln["unit_price"], ln["allowance"], ln["net_amount"]) == (D("100.0000"), D("10.00"), D("90.00"))
    assert (inv["tax_total"], inv["total"]) == (D("17.10"), D("107.10"))


def test_one_stop_shop_seller_charges_the_consumers_country_vat() -> None:
    """Reference data as loaded: an OSS-registered German seller ships to a French consumer. Goods and
    shipping carry French VAT (a book, 7 % at home, its French reduced rate), the service German VAT."""
    seller = Seller.from_dict({"seller_id": "oss-de", "name": "Acme GmbH", "vat_id": "DE811569869", "eu_oss": True,
                               "address": {"line1": "Weg 1", "city": "Hamburg", "postal_code": "20457", "country": "DE"}})
    assert Product.from_dict({"sku": "BOOK", "tax_rate": "7", "tax_rates": {"fr": "5.5"}}).tax_rates == {"FR": D("5.5")}
    ref = reference()
    ref.sellers[seller.seller_id] = seller
    sc = single(["100.00", "50.00"], "EUR", "DE")
    sc["seller"] = seller
    sc["ref"] = ref
    sc["customer"] = Customer("C-FR", "Jeanne Martin", {"line1": "Rue 1", "line2": None, "city": "Lyon",
                                                       "postal_code": "69007", "region": None, "country": "FR"})
    order = dict(sc["orders"][0], shipping=D("10.00"))
    order["lines"] = [dict(order["lines"][0], sku="RED7"), dict(order["lines"][1], sku="SVC"),
                      dict(order["lines"][0], sku=None, description="Compressor part")]
    sc["orders"] = [order]
    inv = build(sc)
    assert [(ln["sku"], ln["tax_category"], ln["tax_rate"]) for ln in inv["lines"]] == [
        ("RED7", "S", D("5.5")), ("SVC", "S", D("19")), (None, "S", D("20")), (None, "S", D("20"))]
    assert {(g["category"], g["rate"]): g["tax_amount"] for g in inv["tax_breakdown"]} == {
        ("S", D("5.5")): D("5.50"), ("S", D("19")): D("9.50"), ("S", D("20")): D("22.00")}
    check_invoice(sc, inv)
    # the EN 16931 rules accept it (a consumer has no Peppol address: core UBL, and CII)
    assert ubl_profile(inv) == "en16931"
    assert validate_ubl(render_ubl(inv)) == [] and validate_cii(render_cii(inv)) == []
