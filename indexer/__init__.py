"""indexer: ingest messy text files into a database and a Whoosh full-text index."""

__version__ = "0.1.0"
__all__ = ["__version__"]
