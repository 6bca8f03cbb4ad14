"""System announcements to everyone or a segment."""
