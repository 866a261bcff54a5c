"""Moving events: Kafka or the embedded outbox log, behind one interface."""
