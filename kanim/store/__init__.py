"""Persistence: SQLAlchemy tables, the mapping onto domain objects, repositories, the unit of
work, and Alembic migrations. SQLite (WAL) by default, PostgreSQL at scale."""
