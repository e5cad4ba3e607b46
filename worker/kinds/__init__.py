"""One handler module per job kind (registered in core/kinds.py); each exposes run(ctx) -> (result, artifacts)."""
