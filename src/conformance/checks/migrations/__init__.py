"""Database migrations work: one head, upgrade/downgrade round trip, no drift.
Runs alembic under the backend's interpreter.
"""
