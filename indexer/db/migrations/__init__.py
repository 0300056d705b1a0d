"""Alembic migrations of the database schema (SQLite and PostgreSQL); run by indexer.db.session."""
