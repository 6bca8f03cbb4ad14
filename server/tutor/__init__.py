"""The AI tutor: personas, conversations, streamed answers billed per token, retrieval, memory."""
