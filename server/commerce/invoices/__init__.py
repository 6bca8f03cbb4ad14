"""Invoices (发票) and PDF receipts for paid orders."""
