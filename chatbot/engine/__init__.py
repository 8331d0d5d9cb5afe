"""The posting engine: the database is the source of truth, APScheduler only wakes it."""
