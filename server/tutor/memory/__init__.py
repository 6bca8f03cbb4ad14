"""Conversation memory: the newest turns verbatim within a budget, older turns folded into a
rolling summary built only from the conversation itself."""
