"""Tutor retrieval: published content cut into passages, found by keywords and vectors, quoted
only as the access policy allows, and cited."""
