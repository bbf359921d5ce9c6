"""One file per tab: layout and event wiring only (no engine logic, no torch)."""
