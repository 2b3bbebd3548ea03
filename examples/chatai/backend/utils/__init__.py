"""Small dependency-free helpers for text and time handling."""
