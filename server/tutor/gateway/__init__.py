"""The AI gateway: OpenAI-compatible providers behind one client, and the token estimator."""
