"""Every target system, by name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from typing import Iterable

import httpx

from domain.errors import PipelineError
from domain.settings import Settings, platform_settings
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
from sinks.register.sink import RegisterSink
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

__all__ = ["SINKS", "get_sink_class", "build_sink", "configured_targets"]

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


def build_sink(target: str, client: httpx.AsyncClient, pipeline: Settings) -> Sink:
    """The sink for *target* with its settings from the environment, checked.

    Raises:
        PipelineError: an unknown target.
        ConfigError: a credential or setting the target needs is missing (the variables are named).
    """
    cls = SINKS.get(target)
    if cls is None:
        raise PipelineError(f"unknown delivery target {target!r}; known: {', '.join(sorted(SINKS))}")
    return cls(platform_settings(target, cls.settings_class), client, pipeline)


def configured_targets(pipeline: Settings, routed: Iterable[str] = ()) -> set[str]:
    """The targets this deployment delivers to: the default targets and every target the reference data
    routes a customer (or its defaults) to, *routed*. A worker builds and checks these when it starts;
    a target reference data names later, unconfigured, parks its deliveries with the reason."""
    return set(pipeline.default_targets) | set(routed)
