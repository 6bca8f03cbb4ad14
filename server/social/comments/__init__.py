"""Comments on content and community posts."""
