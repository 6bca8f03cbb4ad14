"""Orders: checkout, the order state machine and fulfilment."""
