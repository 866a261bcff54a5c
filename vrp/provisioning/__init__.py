"""Setting up the broker for the services and partners: topics, users, grants (admin only)."""
