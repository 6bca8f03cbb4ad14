"""Likes, favorites in collections, and shares."""
