"""The one place that uses Whoosh's private names (attributes and methods beginning with
``_``, classes Whoosh does not document), each behind a function or class of our own.

    lighten.py     the import hook that keeps two unused imports out of whoosh.compat/reading
    storage.py     opening an index through mmap without copying it; counting its segments
    writer.py      the term-grouped segment writer, its posting pool and its codec
    postings.py    postings read a block at a time; each document's field length byte
    bm25f.py       BM25F scores computed from the postings, as Whoosh's scorer gives them
    phrase.py      exact phrases by position arithmetic
    collectors.py  a scored collector's per-hit hook
    terms.py       a fuzzy term whose words the subclass lists

Whoosh is pinned (pyproject.toml) because any release may change these names;
tests/test_whoosh_privates.py names every one used here and fails on the one a version
lacks. No module outside this folder uses a Whoosh private (a test holds that too).
"""
