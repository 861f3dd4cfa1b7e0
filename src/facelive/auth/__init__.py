"""Authentication: APPCODE and signed-header schemes over a durable key store."""
