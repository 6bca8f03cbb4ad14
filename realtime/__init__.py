"""Socket.IO: the server factory, the namespace, event delivery and recovery."""
