"""Subscriptions to plans: periods, renewals, grace, cancel and resume."""
