"""Realistic, correctly signed platform requests for the demo, the benchmark and the tests.

`SAMPLES` maps each platform to its sample module (see `invoicing.samples.base`
for what a module defines). Every registered source has one.
"""
from __future__ import annotations

from types import ModuleType

from invoicing.samples import shopify
from invoicing.samples import wave
from invoicing.samples import sage_intacct
from invoicing.samples import oracle_fusion
from invoicing.samples import odoo
from invoicing.samples import zoho_books
from invoicing.samples import infor
from invoicing.samples import woocommerce
from invoicing.samples import epicor
from invoicing.samples import netsuite
from invoicing.samples import freshbooks
from invoicing.samples import dynamics365
from invoicing.samples import quickbooks
from invoicing.samples import sap
from invoicing.samples import salesforce
from invoicing.samples import xero
from invoicing.samples import stripe
from invoicing.samples import paypal
from invoicing.samples import hubspot
from invoicing.samples import trello
from invoicing.samples import monday
from invoicing.samples import magento
from invoicing.samples.base import Expected, SampleOrder, SampleRequest

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
    from invoicing.settings import platform_env_prefix

    env = {platform_env_prefix(platform) + "SECRET": secret}
    extra = getattr(SAMPLES[platform], "settings_env", None)
    if extra is not None:
        env.update(extra(secret))
    return env
