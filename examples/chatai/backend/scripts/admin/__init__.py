"""Administrative tools for user accounts."""
