"""Pure domain: no I/O, no frameworks beyond pydantic for validation."""
