"""Following creators and readers."""
