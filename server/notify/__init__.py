"""Notify: telling people: notifications, their preferences and push devices, and announcements."""
