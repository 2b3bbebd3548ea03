"""Key/value cache: Redis when configured and reachable, otherwise in-process memory."""
