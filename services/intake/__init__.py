"""Intake: the partner-facing HTTP API."""
