"""The credits wallet: recharge, consume, history and admin adjustments."""
