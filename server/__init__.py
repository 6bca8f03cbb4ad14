"""ShareStack: the backend of a knowledge-payment platform."""

__version__ = "0.1.0"
