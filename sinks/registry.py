"""Every target system, by name. Filled from explicit imports: greppable, no side effects."""
from __future__ import annotations

from sinks.folder import FolderSink
from sinks.magento import MagentoSink
from sinks.infor import InforSink
from sinks.epicor import EpicorSink
from sinks.oracle_fusion import OracleFusionSink
from sinks.email import EmailSink
from sinks.register import RegisterSink
from sinks.sage_intacct import SageIntacctSink
from sinks.odoo import OdooSink

__all__ = ["SINKS", "get_sink_class"]

SINKS: dict[str, type[Sink]] = {
    cls.target: cls
    for cls in (
        FolderSink,
        MagentoSink,
        InforSink,
        EpicorSink,
        OracleFusionSink,
        EmailSink,
        RegisterSink,
        SageIntacctSink,
        OdooSink,
    )
}


def get_sink_class(target: str) -> type[Sink] | None:
    return SINKS.get(target)
