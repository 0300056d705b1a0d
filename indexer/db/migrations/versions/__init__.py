"""Schema revisions, oldest first; each file's docstring says what it changes."""
