"""The Whoosh full-text index: a view of the database that can always be rebuilt."""
