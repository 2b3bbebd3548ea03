"""Imports: resolution and style, declared dependencies, importability, layer contracts,
the entry point.
"""
