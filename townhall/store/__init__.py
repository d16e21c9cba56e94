"""Persistence: SQLAlchemy 2 models and the database handle."""
