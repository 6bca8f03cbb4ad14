"""Tutor runs: asking, streaming an answer, holding and settling its credits, stopping, reaping."""
