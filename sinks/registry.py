"""Every target system, by name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from sinks.base import Sink
from sinks.folder import FolderSink
from sinks.magento import MagentoSink
from sinks.salesforce import SalesforceSink
from sinks.infor import InforSink
from sinks.sap import SapSink
from sinks.epicor import EpicorSink
from sinks.dynamics365 import Dynamics365Sink
from sinks.oracle_fusion import OracleFusionSink
from sinks.freshbooks import FreshBooksSink
from sinks.email import EmailSink
from sinks.register import RegisterSink
from sinks.zoho_books import ZohoBooksSink
from sinks.sage_intacct import SageIntacctSink
from sinks.netsuite import NetSuiteSink
from sinks.xero import XeroSink
from sinks.quickbooks import QuickBooksSink
from sinks.stripe import StripeSink
from sinks.paypal import PayPalSink
from sinks.wave import WaveSink
from sinks.hubspot import HubSpotSink
from sinks.odoo import OdooSink

__all__ = ["SINKS", "get_sink_class"]

SINKS: dict[str, type[Sink]] = {
    cls.target: cls
    for cls in (
        FolderSink,
        MagentoSink,
        SalesforceSink,
        InforSink,
        SapSink,
        EpicorSink,
        Dynamics365Sink,
        OracleFusionSink,
        FreshBooksSink,
        EmailSink,
        RegisterSink,
        ZohoBooksSink,
        SageIntacctSink,
        NetSuiteSink,
        XeroSink,
        QuickBooksSink,
        StripeSink,
        PayPalSink,
        WaveSink,
        HubSpotSink,
        OdooSink,
    )
}


def get_sink_class(target: str) -> type[Sink] | None:
    return SINKS.get(target)
