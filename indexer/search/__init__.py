"""The Whoosh full-text index: a view of the database that can always be rebuilt.

Importing this package installs ``_whoosh/lighten.py``'s import hook, before any module
of it imports Whoosh: a one-shot ``indexer search`` then loads Whoosh without two imports
it never uses.
"""

from __future__ import annotations

from indexer.search._whoosh.lighten import install

__all__: list[str] = []

install()
