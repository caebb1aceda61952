"""One module per CLI command; each exposes `run(ctx, ...) -> int` (an exit code)."""
