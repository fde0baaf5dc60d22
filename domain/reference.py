"""Reference data: sellers (legal entities), customers, products and tax tables.

Loaded from a YAML or JSON file with `invoicing reference load FILE` onto compacted
topics; every worker reads those topics whole at start-up and follows them.
The file::

    defaults: {seller_id: acme-de, payment_terms: NET30, targets: [folder]}
    tax: {vat_rates: {DE: "19"}, us_state_rates: {CA: "7.25"}}
    sellers:   [{seller_id, name, vat_id, address{line1, city, postal_code, country}, iban, eu_oss, ...}]
    customers: [{customer_id, name, email, vat_id, address{...}, external_ids: [shopify:123],
                 payment_terms, targets, resale_certificate, seller_id, buyer_reference,
                 einvoice_format: ubl | cii | facturx (e-mailed with the PDF)}]
    products:  [{sku, description, tax_category, tax_rate, service, tax_rates: {FR: "5.5"}}]
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import yaml

from domain.errors import ConfigError
from domain.tax import EU_COUNTRIES, EU_STANDARD_RATES, TaxKey, TaxTable

__all__ = ["Seller", "Customer", "Product", "Defaults", "ReferenceData", "load_reference_file", "DEFAULTS_KEY", "TAX_KEY"]

DEFAULTS_KEY = "@defaults"
#: what `invoicing init`'s starter file puts where a value must be filled in
PLACEHOLDER = "CHANGE ME"
TAX_KEY = "@tax"


def _addr(data: Mapping[str, Any] | None) -> dict[str, Any]:
    d = dict(data or {})
    country = d.get("country")
    if country is not None and not isinstance(country, str):
        # YAML reads an unquoted NO (Norway) as false: refuse rather than invoice the wrong country
        raise ValueError(f"country {country!r} is not an ISO 3166 code; quote it in YAML")
    return {
        "line1": str(d.get("line1") or ""),
        "line2": d.get("line2") or None,
        "city": str(d.get("city") or ""),
        "postal_code": str(d.get("postal_code") or ""),
        "region": d.get("region") or None,
        "country": str(d.get("country") or "").upper(),
    }


@dataclass(frozen=True)
class Seller:
    seller_id: str
    name: str
    address: dict[str, Any]
    vat_id: str | None = None
    tax_registration: str | None = None
    email: str | None = None
    iban: str | None = None
    endpoint_id: str | None = None
    endpoint_scheme: str | None = None
    invoice_prefix: str = "INV"
    credit_note_prefix: str = "CN"
    #: registered for the EU One-Stop Shop: goods sold to consumers in other EU countries carry their VAT
    eu_oss: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Seller":
        return cls(
            seller_id=str(d["seller_id"]), name=str(d["name"]), address=_addr(d.get("address")),
            vat_id=d.get("vat_id"), tax_registration=d.get("tax_registration"), email=d.get("email"),
            iban=d.get("iban"), endpoint_id=d.get("endpoint_id"), endpoint_scheme=d.get("endpoint_scheme"),
            invoice_prefix=str(d.get("invoice_prefix") or "INV"),
            credit_note_prefix=str(d.get("credit_note_prefix") or "CN"),
            eu_oss=bool(d.get("eu_oss", False)),
        )


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    address: dict[str, Any]
    email: str | None = None
    vat_id: str | None = None
    external_ids: tuple[str, ...] = ()
    payment_terms: str | None = None
    targets: tuple[str, ...] | None = None
    resale_certificate: bool = False
    seller_id: str | None = None
    buyer_reference: str | None = None
    invoice_policy: str | None = None
    billing_cycle: dict[str, Any] | None = None
    split_by_po: bool = False
    timezone: str | None = None
    endpoint_id: str | None = None
    endpoint_scheme: str | None = None
    known: bool = True
    einvoice_format: str | None = None  # e-mailed with the PDF: "ubl", "cii", "facturx" or None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Customer":
        targets = d.get("targets")
        return cls(
            customer_id=str(d["customer_id"]), name=str(d["name"]), address=_addr(d.get("address")),
            email=d.get("email"), vat_id=d.get("vat_id"),
            external_ids=tuple(str(x) for x in d.get("external_ids") or ()),
            payment_terms=d.get("payment_terms"),
            targets=tuple(targets) if targets is not None else None,
            resale_certificate=bool(d.get("resale_certificate", False)),
            seller_id=d.get("seller_id"), buyer_reference=d.get("buyer_reference"),
            invoice_policy=d.get("invoice_policy"), billing_cycle=d.get("billing_cycle"),
            split_by_po=bool(d.get("split_by_po", False)), timezone=d.get("timezone"),
            endpoint_id=d.get("endpoint_id"), endpoint_scheme=d.get("endpoint_scheme"),
            einvoice_format=(str(d["einvoice_format"]).lower() or None) if d.get("einvoice_format") else None,
        )


@dataclass(frozen=True)
class Product:
    sku: str
    description: str | None = None
    tax_category: str | None = None
    tax_rate: Decimal | None = None
    service: bool = False
    #: the product's VAT rate per destination country, for One-Stop-Shop sales (its own rate is the home one)
    tax_rates: Mapping[str, Decimal] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Product":
        rate = d.get("tax_rate")
        return cls(sku=str(d["sku"]), description=d.get("description"), tax_category=d.get("tax_category"),
                   tax_rate=Decimal(str(rate)) if rate is not None else None, service=bool(d.get("service", False)),
                   tax_rates={str(k).upper(): Decimal(str(v)) for k, v in (d.get("tax_rates") or {}).items()})


@dataclass(frozen=True)
class Defaults:
    seller_id: str | None = None
    payment_terms: str = "NET30"
    targets: tuple[str, ...] | None = None
    invoice_policy: str = "IMMEDIATE"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Defaults":
        t = d.get("targets")
        return cls(seller_id=d.get("seller_id"), payment_terms=str(d.get("payment_terms") or "NET30"),
                   targets=tuple(t) if t is not None else None,
                   invoice_policy=str(d.get("invoice_policy") or "IMMEDIATE"))


@dataclass
class ReferenceData:
    """In-memory view of the reference topics."""

    sellers: dict[str, Seller] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    by_external_id: dict[str, str] = field(default_factory=dict)
    defaults: Defaults = field(default_factory=Defaults)
    tax: TaxTable = field(default_factory=TaxTable)

    def put_customer(self, c: Customer | None, key: str) -> None:
        old = self.customers.pop(key, None)
        if old:
            for x in old.external_ids:
                self.by_external_id.pop(x, None)
        if c is not None:
            self.customers[key] = c
            for x in c.external_ids:
                self.by_external_id[x] = key

    def apply(self, kind: str, key: str, value: Mapping[str, Any] | None) -> None:
        """Apply one record of a reference topic (``None`` is a tombstone)."""
        if kind == "customers":
            self.put_customer(Customer.from_dict(value) if value else None, key)
        elif kind == "products":
            if value:
                self.products[key] = Product.from_dict(value)
            else:
                self.products.pop(key, None)
        elif kind == "sellers":
            if key == DEFAULTS_KEY:
                self.defaults = Defaults.from_dict(value or {})
            elif key == TAX_KEY:
                self.tax = TaxTable.from_mapping(value)
            elif value:
                self.sellers[key] = Seller.from_dict(value)
            else:
                self.sellers.pop(key, None)

    def possible_taxes(self) -> set[TaxKey]:
        """Every (VAT category, rate) an invoice of these sellers can carry (`domain.tax.determine_tax`
        over the sellers, tax table and products): what each target must be able to book as tax."""
        q = Decimal("0.0001")
        out: set[TaxKey] = set()
        zero = Decimal(0).quantize(q)
        for seller in self.sellers.values():
            home = seller.address.get("country", "")
            if home in EU_COUNTRIES:
                out |= {("K", zero), ("AE", zero), ("G", zero)}
                standard = self.tax.vat_rates.get(home)
                out.add(("S", (standard if standard is not None else Decimal(0)).quantize(q)))
                for product in self.products.values():
                    if product.tax_category and product.tax_category != "S":
                        out.add((product.tax_category, (product.tax_rate or Decimal(0)).quantize(q)))
                    elif product.tax_rate is not None:
                        out.add(("S", product.tax_rate.quantize(q)))
                    if seller.eu_oss:
                        out |= {("S", r.quantize(q)) if r else ("Z", zero) for c, r in product.tax_rates.items()
                                if c in EU_COUNTRIES}
                if seller.eu_oss:
                    out |= {("S", self.tax.vat_rates.get(c, r).quantize(q)) for c, r in EU_STANDARD_RATES.items()}
            elif home == "US":
                out |= {("G", zero), ("E", zero), ("O", zero)}
                out |= {("S", r.quantize(q)) for r in self.tax.us_state_rates.values() if r}
            else:  # the rate the platform states (unknown here), or not subject to tax
                out.add(("O", zero))
        return out

    def find_customer(self, customer_ref: str | None, email: str | None = None) -> Customer | None:
        """By platform-qualified external id (``shopify:123``), customer id, or ``email:<address>``."""
        for ref in (customer_ref, f"email:{email.lower()}" if email else None):
            if not ref:
                continue
            cid = self.by_external_id.get(ref)
            if cid is not None:
                return self.customers.get(cid)
            if ref in self.customers:
                return self.customers[ref]
        return None

    def seller_for(self, customer: Customer | None) -> Seller:
        """The legal entity that issues the customer's invoices.

        Raises:
            ConfigError: no seller is configured.
        """
        sid = (customer.seller_id if customer else None) or self.defaults.seller_id
        if sid and sid in self.sellers:
            return self.sellers[sid]
        if len(self.sellers) == 1:
            return next(iter(self.sellers.values()))
        raise ConfigError(f"no seller configured (wanted {sid!r}); load reference data first")


def load_reference_file(path: str | Path) -> list[tuple[str, str, dict[str, Any]]]:
    """Read a reference file into (kind, key, value) records for the reference topics.

    Raises:
        ConfigError: unreadable file or a record without its key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read reference file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    out: list[tuple[str, str, dict[str, Any]]] = []
    keys = {"sellers": "seller_id", "customers": "customer_id", "products": "sku"}
    for kind, keyfield in keys.items():
        for i, rec in enumerate(data.get(kind) or []):
            if not isinstance(rec, dict) or keyfield not in rec:
                raise ConfigError(f"{p}: {kind}[{i}] has no {keyfield}")
            try:
                {"sellers": Seller, "customers": Customer, "products": Product}[kind].from_dict(rec)  # type: ignore[attr-defined]
            except (KeyError, ValueError, ArithmeticError) as exc:
                raise ConfigError(f"{p}: {kind}[{i}] is invalid: {exc}") from None
            out.append((kind, str(rec[keyfield]), rec))
    left = _placeholders(data)
    if left:
        raise ConfigError(f"{p}: replace the {PLACEHOLDER!r} values first: " + ", ".join(left[:8]))
    if "defaults" in data:
        out.append(("sellers", DEFAULTS_KEY, dict(data["defaults"] or {})))
    if "tax" in data:
        out.append(("sellers", TAX_KEY, dict(data["tax"] or {})))
    return out


def _placeholders(value: Any, path: str = "") -> list[str]:
    """Where *value* still holds a `PLACEHOLDER` (``sellers[0].name``)."""
    if isinstance(value, str):
        return [path] if PLACEHOLDER in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _placeholders(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _placeholders(v, f"{path}[{i}]")]
    return []
