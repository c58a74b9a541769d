"""Many generations from one jobs file (JSON Lines or CSV), on one event loop."""
