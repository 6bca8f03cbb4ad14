"""Reviews of purchased products."""
