"""Notifier: alerts receiving teams (no personal data) and records delivery."""
