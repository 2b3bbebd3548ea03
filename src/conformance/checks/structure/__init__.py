"""Structure: the repository against the target layout (dirs, moves, root allowlist,
hygiene).
"""
