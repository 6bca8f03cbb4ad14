"""Creator earnings: revenue split, settlement, statements and withdrawals."""
