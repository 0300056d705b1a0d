"""Alerts: standing queries matched against each newly indexed batch, their matches
delivered (file, exec, webhook) exactly once per delivery, recorded on the change sequence.

    definitions.py  alerts from config.toml and from the database, as one list
    evaluate.py     a pass: match the changes past each alert's mark, record, deliver
    deliver.py      the three deliveries, with timeouts and retries
    runner.py       the background thread the daemon and `indexer ingest` run passes in
"""
