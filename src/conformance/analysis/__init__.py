"""Reading sources without running them: Python files (imports, bindings), shell text,
imported names classified.
"""
