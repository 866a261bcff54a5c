"""Bodies of `vrp` commands, one module per command group (services/cli.py parses)."""
