"""The HTTP adapter: FastAPI app factory, routes, request parsing, responses, metrics."""
