"""HTTP clients of the payment gateways (Alipay, WeChat Pay) and the transport errors they raise.

Shared by payments (charges, queries, refunds) and earnings (creator payouts); imports no domain.
"""
