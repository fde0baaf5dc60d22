"""Infor CloudSuite Industrial (SyteLine/CSI) target: Mongoose IDO REST behind the ION API gateway.

Auth: ION API OAuth 2.0 from the ``.ionapi`` file (INVOICING_INFOR_IONAPI_FILE; keys ``ti``,
``ci``, ``cs``, ``pu``, ``ot``, ``saak``, ``sask``, ``iu``) or the same values in env
(TENANT, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, USERNAME = saak, PASSWORD = sask): the
service-account password grant; without saak/sask, client credentials. Calls carry
``X-Infor-MongooseConfig``. Errors: ``{"Message", "MessageCode", "Success": false}``,
sometimes inside an HTTP 200 — both are read.

Assumption [S] (platforms.md, CSI's IDO list and the SLArinvds extension methods; properties
listed in tests/fakes/specs/infor_ido_properties.json): invoices (``Type`` I) and credit memos
(``Type`` C, ``ApplyToInvNum`` = CSI's ``InvNum`` of the invoice) are entered through IDO
``SLArinvs`` ("Invoices, Debit and Credit Memos", table ``arinv``) with G/L distributions in
``SLArinvds``; CSI assigns ``InvNum``; our number goes in ``Ref`` (the look-up key) and ``Description``.

Tax is booked as CSI tax: the header's ``SalesTax`` and one tax distribution per (category, rate)
group (``TaxSystem`` 1, ``TaxCode`` from INVOICING_INFOR_TAX_CODES, ``TaxBasis`` = the group's
taxable amount, ``Amount`` = its tax; CSI derives the tax account from the tax code). A group
without a mapped tax code is refused, never sent under a made-up code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Collection, Mapping

from pydantic import Field, SecretStr, model_validator

from domain.errors import InvoiceRejected
from domain.settings import PlatformSettings
from domain.exact import decimal_text
from sinks.mapping import invoice_lines, rate_key
from sinks.credentials import AnyOf, ClientCredentials, Need, PasswordGrant
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["InforSink", "InforSettings"]


class InforSettings(PlatformSettings):
    ionapi_file: Path | None = Field(None, description="Path of the .ionapi credentials file.")
    mongoose_config: str = Field("CSI_DALS", description="Mongoose configuration (X-Infor-MongooseConfig).")
    invoice_ido: str = Field("SLArinvs")
    distribution_ido: str = Field("SLArinvds")
    revenue_account: str = Field("401000", description="GL account for invoice distributions.")
    tax_codes: dict[str, str] = Field(default_factory=dict, description='CSI tax code per "<EN 16931 category>:<rate>", '
                                      'e.g. {"S:19": "DE19", "K:0": "EUIC", "G:0": "EXP"}.')

    @model_validator(mode="after")
    def _read_ionapi(self) -> InforSettings:
        """The .ionapi file's values over the environment's: ``ti`` tenant, ``ci``/``cs`` client, ``saak``/``sask``
        service account (user name, password), ``pu`` + ``ot`` token URL (INVOICING_INFOR_TOKEN_URL wins) and
        ``iu``/``ti``/CSI the base URL (INVOICING_INFOR_BASE_URL wins)."""
        if self.ionapi_file is None:
            return self
        try:
            ion: dict[str, Any] = json.loads(self.ionapi_file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"INVOICING_INFOR_IONAPI_FILE {self.ionapi_file} cannot be read: {exc}") from None
        self.tenant = ion.get("ti") or self.tenant
        self.client_id = ion.get("ci") or self.client_id
        self.username = ion.get("saak") or self.username
        if ion.get("cs"):
            self.client_secret = SecretStr(str(ion["cs"]))
        if ion.get("sask"):
            self.password = SecretStr(str(ion["sask"]))
        if not self.token_url and ion.get("pu") and ion.get("ot"):
            self.token_url = str(ion["pu"]).rstrip("/") + "/" + str(ion["ot"]).lstrip("/")
        if not self.base_url and ion.get("iu") and self.tenant:
            self.base_url = f"{str(ion['iu']).rstrip('/')}/{self.tenant}/CSI"
        return self


def _infor_message(body: Any) -> str | None:
    if isinstance(body, dict):
        return f"MessageCode {body.get('MessageCode')}: {body.get('Message')}" if "Message" in body else \
            body.get("error_description") or body.get("error")
    return str(body)[:500] if body else None


def _mongoose_date(d: Any) -> str:
    return f"{d:%Y%m%d} 00:00:00.000"


class InforSink(Sink):
    """Creates one A/R invoice or credit memo (``SLArinvs``, ``Type`` I or C) with its distributions per document.

    Delivery guarantee: exactly once per document number. IDO updates take no idempotency
    key, so `find_invoice`/`find_credit_note` load ``SLArinvs`` filtered on ``Ref`` = our number
    and ``Type`` before every create; if the header exists without distributions (a crash
    between the two updates) the distributions are added then. Idempotency key: our invoice
    or credit note number in ``Ref``. A credit memo names the invoice it credits by CSI's own
    ``InvNum`` in ``ApplyToInvNum`` (``original.external_id``), never by our number.
    """

    target = "infor"
    settings_class = InforSettings
    settings: InforSettings
    rate_limit_per_minute = None  # ION API throttling is tenant-specific and unpublished [U]

    #: the service account's password grant when saak/sask are there, else client credentials
    auth_spec = AnyOf(PasswordGrant(), ClientCredentials())
    requires = (Need("base_url", "or .ionapi iu and ti"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_INFOR_TAX_CODES has no entry "{rate_key(c, r)}" (the CSI tax code of that rate)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_codes]

    def _secrets(self) -> list[str | None]:
        return [*super()._secrets(), self.settings.username]  # the service account key (saak) too

    async def _ido(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"X-Infor-MongooseConfig": self.settings.mongoose_config, "Accept": "application/json"}
        r = await self.client.request(method, f"{self.base_url()}/IDORequestService/ido/{path}", headers=headers,
                                      auth=self.auth, **kwargs)
        raise_for_status(r, what=f"infor {what}", message=_infor_message, secrets=self._secrets())
        doc: dict[str, Any] = r.json()
        if not doc.get("Success", False):
            raise InvoiceRejected(f"infor {what}: {_infor_message(doc)}")
        return doc

    async def _load(self, ido: str, props: str, flt: str) -> list[dict[str, Any]]:
        doc = await self._ido("GET", f"load/{ido}", f"load {ido}", params={"properties": props, "filter": flt, "recordCap": "10"})
        return list(doc.get("Items") or [])

    async def _find(self, doc: Mapping[str, Any], kind: str) -> InvoiceRef | None:
        s = self.settings
        number = str(doc["number"]).replace("'", "''")
        rows = await self._load(s.invoice_ido, "InvNum,CustNum,Ref,Type,ApplyToInvNum", f"Ref = '{number}' AND Type = '{kind}'")
        if not rows:
            return None
        if len(rows) > 1:
            raise InvoiceRejected(f"infor: {len(rows)} A/R documents of type {kind} with Ref {doc['number']}; resolve by hand")
        inv_num = str(rows[0]["InvNum"])
        if not await self._load(s.distribution_ido, "InvNum,DistSeq", f"InvNum = '{inv_num}'"):
            await self._distribute(doc, inv_num)  # header made, crashed before the distributions
        return InvoiceRef(inv_num)

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(invoice, "I")

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(note, "C")

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        return await self._create(invoice, "I", None)

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        return await self._create(note, "C", original.external_id)

    async def _create(self, doc: Mapping[str, Any], kind: str, apply_to: str | None) -> InvoiceRef:
        s = self.settings
        self._distributions(doc, "")  # refuses an unmapped tax before anything is written
        props = {"CustNum": doc["customer_id"], "Type": kind, "InvNum": None,
                 "InvDate": _mongoose_date(doc["issue_date"]), "DueDate": _mongoose_date(doc["due_date"]),
                 "Amount": decimal_text(doc["tax_exclusive_total"]), "SalesTax": decimal_text(doc["tax_total"]),
                 "Ref": doc["number"], "Description": f"{doc['number']} {doc['currency']} "
                 f"{', '.join(doc.get('orders') or [])}"[:40]}
        if apply_to is not None:
            props["ApplyToInvNum"] = apply_to
        result = await self._ido("POST", f"update/{s.invoice_ido}", f"insert {s.invoice_ido}", params={"refresh": "true"},
                                 json={"Changes": [_insert(props)]})
        items = result.get("RefreshItems") or []
        inv_num = next((p["Value"] for p in (items[0].get("Properties") if items else []) if p["Name"] == "InvNum"), None)
        if not inv_num:
            ref = await self._find(doc, kind)
            if ref is None:
                raise InvoiceRejected(f"infor: {s.invoice_ido} accepted {doc['number']} but returned no InvNum")
            return ref
        await self._distribute(doc, str(inv_num))
        return InvoiceRef(str(inv_num))

    async def _distribute(self, doc: Mapping[str, Any], inv_num: str) -> None:
        s = self.settings
        await self._ido("POST", f"update/{s.distribution_ido}", f"insert {s.distribution_ido}",
                        json={"Changes": self._distributions(doc, inv_num)})

    def _distributions(self, doc: Mapping[str, Any], inv_num: str) -> list[dict[str, Any]]:
        """Revenue distributions per line, then one tax distribution per tax group (CSI's tax code)."""
        s = self.settings
        rows = [{"CustNum": doc["customer_id"], "InvNum": inv_num, "InvSeq": "0", "DistSeq": str(ln.number * 10),
                 "Acct": s.revenue_account, "Amount": decimal_text(ln.net)} for ln in invoice_lines(doc, self.target)]
        for n, tax in enumerate(doc["tax_breakdown"], start=len(rows) + 1):
            key = rate_key(tax["category"], tax["rate"])
            if key not in s.tax_codes:
                raise InvoiceRejected(f'infor: INVOICING_INFOR_TAX_CODES has no entry "{key}"; {doc["number"]} not sent')
            rows.append({"CustNum": doc["customer_id"], "InvNum": inv_num, "InvSeq": "0", "DistSeq": str(n * 10),
                         "TaxSystem": "1", "TaxCode": s.tax_codes[key], "TaxBasis": decimal_text(tax["taxable_amount"]),
                         "Amount": decimal_text(tax["tax_amount"])})
        return [_insert(r) for r in rows]


def _insert(props: Mapping[str, Any]) -> dict[str, Any]:
    return {"Action": 1, "ItemId": "", "UpdateLocking": 1, "Properties": [
        {"Name": k, "Value": v, "Modified": True, "IsNull": v is None} for k, v in props.items()]}
