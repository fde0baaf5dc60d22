"""Every platform source, by webhook name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from sources.base import Source
from sources.salesforce import Salesforce
from sources.sap import Sap
from sources.dynamics365 import Dynamics365
from sources.netsuite import NetSuite
from sources.epicor import Epicor
from sources.infor import Infor
from sources.odoo import Odoo
from sources.oracle_fusion import OracleFusion
from sources.sage_intacct import SageIntacct
from sources.shopify import Shopify
from sources.wave import Wave
from sources.zoho_books import ZohoBooks
from sources.woocommerce import WooCommerce
from sources.freshbooks import FreshBooks
from sources.quickbooks import QuickBooks
from sources.xero import Xero
from sources.stripe import Stripe
from sources.paypal import PayPal
from sources.hubspot import HubSpot
from sources.trello import Trello
from sources.monday import Monday
from sources.magento import Magento

__all__ = ["SOURCES", "get_source_class"]

SOURCES: dict[str, type[Source]] = {
    cls.platform: cls
    for cls in (
        Shopify,
        Wave,
        SageIntacct,
        OracleFusion,
        Odoo,
        ZohoBooks,
        Infor,
        WooCommerce,
        Epicor,
        NetSuite,
        FreshBooks,
        Dynamics365,
        QuickBooks,
        Sap,
        Salesforce,
        Xero,
        Stripe,
        PayPal,
        HubSpot,
        Trello,
        Monday,
        Magento,
    )
}


def get_source_class(platform: str) -> type[Source] | None:
    return SOURCES.get(platform)
