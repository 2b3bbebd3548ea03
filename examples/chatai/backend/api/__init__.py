"""HTTP layer: FastAPI routers that translate requests into service calls."""
