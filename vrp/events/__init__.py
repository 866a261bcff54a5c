"""Events: one CloudEvents envelope, typed payloads, topic names in one place."""
