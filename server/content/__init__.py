"""Content: what creators publish and how readers find it: items and their access policy, media,
files, moderation, search, discovery and counters.
"""
