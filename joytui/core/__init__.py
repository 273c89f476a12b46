"""The normalized model, the store of snapshots and the poller. No Textual here."""
