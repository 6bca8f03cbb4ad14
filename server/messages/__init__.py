"""Private messages between users."""
