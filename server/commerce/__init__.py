"""Commerce: money and what it buys: the ledger, wallet, catalog, cart, coupons, subscriptions,
earnings, orders, payments, in-app purchases, invoices and reviews.
"""
