"""Invoices through the (fake) e-invoice provider and our PDF receipts, made by real workers and
downloaded through signed links by the buyer only."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from jobs.tasks import FUNCTIONS
from server.commerce.invoices.provider import HttpInvoiceProvider, InvoiceOrder, ProviderError
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.commerce import paid_order, product
from tests.helpers.people import Person, call, person
from tests.jobs.test_worker import run_burst
from tests.server.commerce.invoices.issuing.fake_provider import FakeProvider

COMPANY = {
    "title_type": "company",
    "title": "北京知识科技有限公司",
    "tax_number": "91110108mA01abcd2x",
    "email": "Finance@Example.com",
}


def pdf_text(pdf: bytes) -> str:
    """The text drawn on a ReportLab page: its content streams (ASCII85 + Flate) decoded and
    the string operands of the CID font (UTF-16BE) read back."""
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    texts: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = match.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw[:-2])
        data = zlib.decompress(raw)
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data, re.S):
            unescaped = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else m.group(1),
                literal,
            )
            texts.append(unescaped.decode("utf-16-be", errors="replace"))
    return "\n".join(texts)


async def download(api: TestClient, url: str, who: Person | None) -> Any:
    parts = urlsplit(url)
    return await api.get(f"{parts.path}?{parts.query}", headers=who.headers if who else {})


async def bought(api: TestClient, creator: Person, buyer: Person) -> Any:
    goods = await product(api, creator, kind="physical", title="《深入理解》纸质书", price=8800)
    return await paid_order(api, buyer, (goods["id"], 2))


async def work(api: TestClient, settings: Settings) -> Any:
    return await run_burst(settings, {"runtime": api.app[RUNTIME]})


async def test_buyer_gets_the_issued_invoice(
    api: TestClient,
    auth_settings: Settings,
    provider: tuple[FakeProvider, str],
    creator: Person,
    reader: Person,
) -> None:
    fake, _ = provider
    order = await bought(api, creator, reader)
    made = await call(api, "POST", f"/orders/{order.id}/invoice", reader, 201, json=COMPANY)
    assert made["status"] == "pending" and made["download_url"] is None
    assert made["email"] == "f***@example.com" and made["tax_number"] == "91110108MA01ABCD2X"
    assert made["amount"] == 17600

    worker = await work(api, auth_settings)
    assert worker.jobs_failed == 0

    seen = await call(api, "GET", f"/orders/{order.id}/invoice", reader, 200)
    assert seen["status"] == "issued" and seen["invoice_number"] == "24000001"
    sent = next(iter(fake.issued.values()))["request"]
    assert sent["order_number"] == order.number and sent["amount"] == 17600
    assert sent["buyer"] == {
        "type": "company",
        "title": COMPANY["title"],
        "tax_number": "91110108MA01ABCD2X",
        "email": "finance@example.com",
    }
    answer = await download(api, seen["download_url"], reader)
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pdf"
    assert (await answer.read()).startswith(b"%PDF-")
    other = await person(api)
    assert (await download(api, seen["download_url"], other)).status in (401, 403)
    assert (await download(api, seen["download_url"], None)).status in (401, 403)
    mine = await call(api, "GET", "/me/invoices", reader, 200)
    assert [i["id"] for i in mine["items"]] == [made["id"]]
    assert fake.refused_signatures == 0


async def test_others_orders_are_unknown(
    api: TestClient, creator: Person, reader: Person, admin: Person
) -> None:
    order = await bought(api, creator, reader)
    other = await person(api)
    for method, path, body in (
        ("POST", "invoice", COMPANY),
        ("GET", "invoice", None),
        ("POST", "receipt", None),
        ("GET", "receipt", None),
    ):
        error = await call(api, method, f"/orders/{order.id}/{path}", other, 404, json=body)
        assert error["error"]["code"] == "invoices.order_not_found"
    await call(api, "POST", f"/orders/{order.id}/invoice", admin, 404, json=COMPANY)
    await call(api, "POST", f"/orders/{order.id}/invoice", reader, 201, json=COMPANY)
    assert (await call(api, "GET", f"/orders/{order.id}/invoice", admin, 200))[
        "order_id"
    ] == order.id
    assert (await call(api, "GET", "/me/invoices", other, 200))["items"] == []
    await call(api, "GET", f"/orders/{order.id}/invoice", None, 401)


async def test_bad_requests_change_nothing(
    api: TestClient, creator: Person, reader: Person
) -> None:
    order = await bought(api, creator, reader)
    path = f"/orders/{order.id}/invoice"
    for body in (
        {**COMPANY, "tax_number": None},
        {**COMPANY, "title_type": "personal"},
        {**COMPANY, "tax_number": "123"},
        {**COMPANY, "email": "not-an-email"},
        {**COMPANY, "title": ""},
        {**COMPANY, "title_type": "government"},
    ):
        error = await call(api, "POST", path, reader, 422, json=body)
        assert error["error"]["code"] == "request.validation", body
    await call(api, "GET", path, reader, 404)
    personal = {"title_type": "personal", "title": "张三", "email": "z@example.com"}
    await call(api, "POST", path, reader, 201, json=personal)
    again = await call(api, "POST", path, reader, 409, json=personal)
    assert again["error"]["code"] == "invoices.already_requested"
    await call(api, "POST", "/orders/987654321/invoice", reader, 404, json=personal)
    from server.commerce.orders import service as orders

    goods = await product(api, creator, kind="physical", price=100)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        pending = await orders.create_order(
            uow, user_id=reader.id, items=[(goods["id"], 1)], timeout_seconds=1
        )
    error = await call(api, "POST", f"/orders/{pending.id}/invoice", reader, 409, json=personal)
    assert error["error"]["code"] == "invoices.order_not_paid"
    await call(api, "POST", f"/orders/{pending.id}/receipt", reader, 409)


async def test_a_provider_outage_is_retried_until_issued(
    api: TestClient,
    auth_settings: Settings,
    provider: tuple[FakeProvider, str],
    creator: Person,
    reader: Person,
) -> None:
    fake, _ = provider
    fake.failures = [503, 502]
    order = await bought(api, creator, reader)
    await call(api, "POST", f"/orders/{order.id}/invoice", reader, 201, json=COMPANY)
    await work(api, auth_settings)
    seen = await call(api, "GET", f"/orders/{order.id}/invoice", reader, 200)
    assert seen["status"] == "issued" and fake.posts == 3 and len(fake.issued) == 1


async def test_refusals_and_exhausted_retries_fail_the_request(
    api: TestClient,
    auth_settings: Settings,
    provider: tuple[FakeProvider, str],
    creator: Person,
    reader: Person,
) -> None:
    fake, _ = provider
    fake.failures = [400, 500, 500, 500]
    first, second = await bought(api, creator, reader), await bought(api, creator, reader)
    await call(api, "POST", f"/orders/{first.id}/invoice", reader, 201, json=COMPANY)
    await work(api, auth_settings)
    refused = await call(api, "GET", f"/orders/{first.id}/invoice", reader, 200)
    assert refused["status"] == "failed" and "refused with 400" in refused["error"]
    await call(api, "POST", f"/orders/{second.id}/invoice", reader, 201, json=COMPANY)
    await work(api, auth_settings)
    exhausted = await call(api, "GET", f"/orders/{second.id}/invoice", reader, 200)
    assert exhausted["status"] == "failed" and "HTTP 500" in exhausted["error"]
    assert fake.posts == 4 and exhausted["download_url"] is None


async def test_the_job_twice_issues_once(
    api: TestClient, provider: tuple[FakeProvider, str], creator: Person, reader: Person
) -> None:
    fake, _ = provider
    order = await bought(api, creator, reader)
    made = await call(api, "POST", f"/orders/{order.id}/invoice", reader, 201, json=COMPANY)
    issue = FUNCTIONS["invoices.issue"].coroutine
    ctx = {"runtime": api.app[RUNTIME], "job_try": 1}
    assert await issue(ctx, invoice_id=made["id"]) == "issued"
    assert await issue(ctx, invoice_id=made["id"]) == "skipped"
    assert await issue(ctx, invoice_id=987654321) == "skipped"
    assert fake.posts == 1


async def test_answers_not_signed_by_the_provider_are_not_believed(
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    impostor = HttpInvoiceProvider(base_url=url, app_id=fake.app_id, secret=b"wrong", timeout=5)
    order = InvoiceOrder("SSINV1", "N1", "personal", "张三", None, "z@example.com", 100, "CNY")
    with pytest.raises(ProviderError):
        await impostor.issue(order)
    assert fake.refused_signatures == 1 and not fake.issued
    down = HttpInvoiceProvider(base_url="http://127.0.0.1:9/", app_id="x", secret=b"x", timeout=2)
    with pytest.raises(ProviderError):
        await down.issue(order)


async def test_receipt_pdf_names_the_order_in_chinese(
    api: TestClient, auth_settings: Settings, creator: Person, reader: Person, admin: Person
) -> None:
    order = await bought(api, creator, reader)
    path = f"/orders/{order.id}/receipt"
    await call(api, "GET", path, reader, 404)
    asked = await call(api, "POST", path, reader, 202)
    assert asked["status"] == "pending" and asked["download_url"] is None
    assert (await call(api, "POST", path, reader, 202))["status"] == "pending"
    await work(api, auth_settings)
    ready = await call(api, "GET", path, reader, 200)
    assert ready["status"] == "ready" and ready["ready_at"]
    answer = await download(api, ready["download_url"], reader)
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pdf"
    text = pdf_text(await answer.read())
    assert order.number in text and "收据" in text and "《深入理解》纸质书" in text
    assert "CNY 176.00" in text
    as_admin = await call(api, "GET", path, admin, 200)
    assert (await download(api, as_admin["download_url"], admin)).status == 200
    assert (await download(api, ready["download_url"], admin)).status in (401, 403)
    again = FUNCTIONS["invoices.receipt"].coroutine
    assert await again({"runtime": api.app[RUNTIME]}, order_id=order.id) is False


async def test_an_admin_retries_a_failed_request(
    api: TestClient,
    auth_settings: Settings,
    provider: tuple[FakeProvider, str],
    creator: Person,
    reader: Person,
    admin: Person,
) -> None:
    fake, _ = provider
    fake.failures = [400]
    order = await bought(api, creator, reader)
    made = await call(api, "POST", f"/orders/{order.id}/invoice", reader, 201, json=COMPANY)
    await work(api, auth_settings)
    failed = await call(api, "GET", "/admin/invoices?status=failed", admin, 200)
    assert [i["id"] for i in failed["items"]] == [made["id"]]
    await call(api, "GET", "/admin/invoices", reader, 403)
    await call(api, "POST", f"/admin/invoices/{made['id']}/retry", reader, 403)
    await call(api, "POST", "/admin/invoices/987654321/retry", admin, 404)
    again = await call(api, "POST", f"/admin/invoices/{made['id']}/retry", admin, 200)
    assert again["status"] == "pending" and again["error"] is None
    error = await call(api, "POST", f"/admin/invoices/{made['id']}/retry", admin, 409)
    assert error["error"]["code"] == "invoices.not_failed"
    await work(api, auth_settings)
    issued = await call(api, "GET", f"/orders/{order.id}/invoice", reader, 200)
    assert issued["status"] == "issued" and fake.posts == 2
