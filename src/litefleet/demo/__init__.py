"""`litefleet demo`: the whole system on 127.0.0.1, checking its own outcome."""
