"""Run folders on disk: ids and files, the typed status, the one-writer lock and where runs are stored."""
