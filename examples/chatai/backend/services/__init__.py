"""Business logic: the use cases the API routes and scripts call."""
