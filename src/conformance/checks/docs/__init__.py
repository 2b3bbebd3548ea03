"""The new structure is documented: the backend README names every planned dir, no dead
paths or commands.
"""
