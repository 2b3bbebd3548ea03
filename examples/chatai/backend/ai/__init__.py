"""AI layer: provider interface, prompt building and token budgeting."""
