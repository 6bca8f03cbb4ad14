"""Privacy: a person's data on request: exporting it and erasing the account."""
