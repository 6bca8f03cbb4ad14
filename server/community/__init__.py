"""Topics and community posts."""
