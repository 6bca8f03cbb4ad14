"""The AI tutor's tables."""
