"""The typed values that flow between ingest stages: the shared records, under their old home."""

from __future__ import annotations

from indexer.records import Analysis, Candidate, Decoded, FileFailure, RawFile, Removal, Unlisted

__all__ = ["Analysis", "Candidate", "Decoded", "FileFailure", "RawFile", "Removal", "Unlisted"]
