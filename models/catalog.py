"""Catalog: products, carts, coupons, reviews, invoices and receipts."""

from __future__ import annotations
