"""Persistence: tables, the transactional outbox and the consumer inbox."""
