"""ISO 3166-1 alpha-2 codes from the free-text countries accounting platforms store
(Xero, QuickBooks, FreshBooks, Zoho Books keep what the user typed)."""
from __future__ import annotations

from typing import Any

__all__ = ["country_code"]

_NAMES = {
    "germany": "DE", "deutschland": "DE", "france": "FR", "netherlands": "NL", "the netherlands": "NL",
    "nederland": "NL", "norway": "NO", "norge": "NO", "austria": "AT", "österreich": "AT", "switzerland": "CH",
    "schweiz": "CH", "belgium": "BE", "italy": "IT", "spain": "ES", "poland": "PL", "denmark": "DK", "sweden": "SE",
    "finland": "FI", "ireland": "IE", "portugal": "PT", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US", "u.s.a": "US", "canada": "CA",
    "australia": "AU", "new zealand": "NZ", "japan": "JP", "india": "IN", "singapore": "SG", "south africa": "ZA",
}


def country_code(value: Any) -> str:
    """``"DE"``/``"Germany"``/``"USA"`` → ``"DE"``/``"DE"``/``"US"``; unknown → ``""``."""
    text = str(value or "").strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _NAMES.get(text.lower(), "")
