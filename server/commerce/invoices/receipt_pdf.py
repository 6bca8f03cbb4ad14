"""Our own PDF receipt of an order, drawn with ReportLab's built-in CJK font (STSong-Light,
an Adobe CID font every PDF reader has, so nothing is embedded)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    title: str
    quantity: int
    unit_price: int
    amount: int


@dataclass(frozen=True, slots=True)
class ReceiptData:
    seller: str
    order_number: str
    buyer: str
    paid_at: datetime | None
    currency: str
    subtotal: int
    discount: int
    total: int
    lines: list[ReceiptLine]


def money(fen: int, currency: str) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{currency} {yuan:,}.{cents:02d}"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def render_receipt(data: ReceiptData, *, tz: str) -> bytes:
    """The receipt as PDF bytes (CPU work: call it in a thread)."""
    font = _font()
    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24)
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=16)
    paid = data.paid_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if data.paid_at else "-"
    rows: list[list[str]] = [["商品 Item", "数量 Qty", "单价 Unit", "金额 Amount"]]
    for line in data.lines:
        rows.append(
            [
                line.title[:60],
                str(line.quantity),
                money(line.unit_price, data.currency),
                money(line.amount, data.currency),
            ]
        )
    rows += [
        ["", "", "小计 Subtotal", money(data.subtotal, data.currency)],
        ["", "", "优惠 Discount", money(-data.discount, data.currency)],
        ["", "", "实付 Total", money(data.total, data.currency)],
    ]
    table = Table(rows, colWidths=[80 * mm, 20 * mm, 35 * mm, 35 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEABOVE", (2, -3), (-1, -3), 0.5, colors.grey),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"收据 {data.order_number}", author=data.seller
    )
    document.build(
        [
            Paragraph(f"{data.seller} 收据 Receipt", title),
            Spacer(1, 6 * mm),
            Paragraph(f"订单号 Order number: {data.order_number}", body),
            Paragraph(f"付款人 Buyer: {data.buyer}", body),
            Paragraph(f"付款时间 Paid at: {paid} ({tz})", body),
            Spacer(1, 6 * mm),
            table,
            Spacer(1, 10 * mm),
            Paragraph("本收据为付款凭证，不作为税务发票。This receipt is not a tax invoice.", body),
        ]
    )
    return buffer.getvalue()
