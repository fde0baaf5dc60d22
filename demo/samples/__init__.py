"""Realistic, correctly signed platform requests for the demo, the benchmark and the tests.

`SAMPLES` maps each platform to its sample module (see `demo.samples.base`
for what a module defines). Every registered source has one.
"""
from __future__ import annotations

from types import ModuleType

from demo.samples import shopify
from demo.samples import wave
from demo.samples import sage_intacct
from demo.samples import oracle_fusion
from demo.samples import odoo
from demo.samples import zoho_books
from demo.samples import infor
from demo.samples import woocommerce
from demo.samples import epicor
from demo.samples import netsuite
from demo.samples import freshbooks
from demo.samples import dynamics365
from demo.samples import quickbooks
from demo.samples import sap
from demo.samples import salesforce
from demo.samples import xero
from demo.samples import stripe
from demo.samples import paypal
from demo.samples import hubspot
from demo.samples import trello
from demo.samples import monday
from demo.samples import magento
from demo.samples.base import Expected, SampleOrder, SampleRequest

__all__ = ["SAMPLES", "Expected", "SampleOrder", "SampleRequest", "settings_env"]

SAMPLES: dict[str, ModuleType] = {
    "shopify": shopify,
    "wave": wave,
    "sage-intacct": sage_intacct,
    "oracle-fusion": oracle_fusion,
    "odoo": odoo,
    "zoho-books": zoho_books,
    "infor": infor,
    "woocommerce": woocommerce,
    "epicor": epicor,
    "netsuite": netsuite,
    "freshbooks": freshbooks,
    "dynamics365": dynamics365,
    "quickbooks": quickbooks,
    "sap": sap,
    "salesforce": salesforce,
    "xero": xero,
    "stripe": stripe,
    "paypal": paypal,
    "hubspot": hubspot,
    "trello": trello,
    "monday": monday,
    "magento": magento,
}


def settings_env(platform: str, secret: str) -> dict[str, str]:
    """Environment a platform's source needs to accept its samples signed with *secret*."""
    from domain.settings import platform_env_prefix

    env = {platform_env_prefix(platform) + "SECRET": secret}
    extra = getattr(SAMPLES[platform], "settings_env", None)
    if extra is not None:
        env.update(extra(secret))
    return env
