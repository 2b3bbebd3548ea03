"""Maintenance and debugging tools for operators."""
