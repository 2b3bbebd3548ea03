"""Persistence layer: SQLAlchemy models, engine/session factory and CRUD helpers."""
