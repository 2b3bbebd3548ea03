"""backend-conformance: a pytest suite that turns a backend reorganization plan into checks."""

__version__ = "0.1.0"
