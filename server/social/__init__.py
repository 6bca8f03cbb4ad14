"""Social: people with each other: follows, blocks, comments, reactions, community topics, direct
messages and presence.
"""
