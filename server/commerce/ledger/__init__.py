"""The double-entry ledger: accounts, transactions and entries with balance_after."""
