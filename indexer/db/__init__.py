"""The database: the source of truth (models, engine and session, and every query)."""
