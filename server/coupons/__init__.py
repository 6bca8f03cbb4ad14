"""Coupons and promotions."""
