"""Payments through Alipay, WeChat Pay, Stripe and the sandbox; callbacks and refunds."""
