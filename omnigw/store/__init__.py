"""Persistence: engine and session setup, declarative base, Alembic migrations.

Tables live with their domain (identity/, cbc/, crm/, ...); their models
subclass `Base` so one metadata carries them all.
"""
