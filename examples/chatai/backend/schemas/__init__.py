"""Pydantic request/response models that define the public API contract."""
