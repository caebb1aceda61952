"""`check`: which pinned charts have updates upstream."""
