"""Local stand-ins for payment gateways, speaking their real wire formats with test keys."""
