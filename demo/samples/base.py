"""The shape every platform's sample module follows.

A sample module ``demo/samples/<platform>.py`` defines:

* ``order(n, rng, secret, at) -> SampleOrder``: the signed requests one order
  produces on that platform, as the platform sends them (realistic payloads
  from the vendor's documented shapes), plus the API documents a thin event
  fetches and what the resulting order event must look like;
* ``signed(body, secret, at) -> SampleRequest``: any body, signed the
  platform's way (the contract test signs a malformed body with it);
* optionally ``settings_env(secret) -> dict[str, str]``: the environment the
  source needs besides ``INVOICING_<PLATFORM>_SECRET`` (keys, client ids).

*at* is the time the platform signs the request at (stale-timestamp tests pass an old one).
The documents' own times are a fixed base (November 2026) plus a few minutes per ``n mod 1000``,
so any *n* (the benchmark's tens of thousands included) stays within three weeks of the base: the
gate before numbering refuses supply dates far from when an event reached us.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["SampleRequest", "SampleOrder", "Expected", "CATALOGUE", "CUSTOMERS", "VAT_IDS", "customer_vat"]


@dataclass(frozen=True)
class SampleRequest:
    """One HTTP request as the platform would send it, already signed."""

    path: str
    body: bytes
    headers: Mapping[str, str]
    method: str = "POST"
    query: str = ""


@dataclass(frozen=True)
class Expected:
    """What the order event built from the order's issuing request must carry."""

    trigger: str
    external_order_id: str
    currency: str
    line_count: int
    order_key: str | None = None


@dataclass(frozen=True)
class SampleOrder:
    """The requests one order produces; ``redeliveries`` repeat some of them verbatim.

    ``api`` maps ``"GET /path?query"`` (exactly as the source requests it, query
    sorted) or ``"POST /path"`` to the JSON document the platform's API answers,
    for thin events.
    """

    platform: str
    order_ref: str
    requests: list[SampleRequest]
    expected: Expected
    redeliveries: list[SampleRequest] = field(default_factory=list)
    api: Mapping[str, Any] = field(default_factory=dict)
    issues_invoice: bool = True


#: (sku, title, unit price) from the demo catalogue (demo_data/reference.yaml)
CATALOGUE = [
    ("KS-SC-7.5", "Screw compressor SC 7.5 kW, 10 bar", "6890.00"),
    ("KS-SC-15", "Screw compressor SC 15 kW, 13 bar", "11450.00"),
    ("KS-PC-300", "Piston compressor PC 300 l/min", "1249.90"),
    ("KS-DRY-20", "Refrigeration dryer RD 20", "1785.50"),
    ("KS-FLT-01", "Oil filter element, pack of 4", "89.95"),
    ("KS-SRV-H", "Service technician, hourly rate", "96.00"),
    ("KS-TANK-500", "Air receiver tank 500 l, galvanised", "1120.00"),
]

#: (platform customer number, name, email, (street, city, postcode, region, country), currency)
CUSTOMERS = [
    ("7390142201", "Brauerei Albrecht KG", "buchhaltung@brauerei-albrecht.de", ("Hopfenweg 3", "Bamberg", "96047", None, "DE"), "EUR"),
    ("7390142202", "Ateliers Mécaniques Dubois SAS", "compta@ateliers-dubois.fr", ("14 Rue de l'Industrie", "Lyon", "69007", None, "FR"), "EUR"),
    ("7390142203", "Van Dijk Koeltechniek B.V.", "facturen@vandijk-koel.nl", ("Havenstraat 88", "Rotterdam", "3011 AB", None, "NL"), "EUR"),
    ("7390142204", "Oslo Trykkluft AS", "faktura@oslo-trykkluft.no", ("Karl Johans gate 5", "Oslo", "0154", None, "NO"), "EUR"),
    ("7390142205", "Metallbau Steiner GmbH", "rechnung@metallbau-steiner.de", ("Werkstrasse 7", "Stuttgart", "70173", None, "DE"), "EUR"),
    ("7390142206", "Gulf Coast Fabrication LLC", "ap@gulfcoastfab.com", ("1200 Ship Channel Rd", "Pasadena", "77506", "TX", "US"), "USD"),
    ("7390142207", "Pacific Air Tools Wholesale Inc.", "payables@pacificairtools.com", ("88 Harbor Way", "Oakland", "94607", "CA", "US"), "USD"),
    ("9900000001", "Werkstatt Kühn e.K.", "info@werkstatt-kuehn.de", ("Lindenallee 21", "Leipzig", "04109", None, "DE"), "EUR"),
    ("9900000002", "東京エアテック株式会社", "keiri@tokyo-airtech.jp", ("2-7-1 Marunouchi", "Chiyoda-ku, Tokyo", "100-0005", None, "JP"), "JPY"),
]

#: VAT ids of the sample customers that have one (the EU business buyers of demo_data/reference.yaml),
#: by platform customer number; platforms that hold a buyer VAT id carry these in their documents
VAT_IDS = {
    "7390142201": "DE129273398",
    "7390142202": "FR40303265045",
    "7390142203": "NL123456789B01",
}


def customer_vat(cust_no: str) -> str | None:
    """The VAT id of sample customer *cust_no*, or ``None`` (non-EU buyers, small traders)."""
    return VAT_IDS.get(cust_no)
