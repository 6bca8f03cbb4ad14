"""Shipping of physical goods: the order's address, shipments per seller, returns."""
