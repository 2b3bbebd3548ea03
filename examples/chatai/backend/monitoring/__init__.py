"""Observability: in-process metrics, logging setup and health checks."""
