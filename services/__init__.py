"""The three services: thin adapters around the shared core."""
