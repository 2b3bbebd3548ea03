"""Security primitives: password hashing and request rate limiting."""
