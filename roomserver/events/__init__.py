"""Events: the envelope, the outbox relay and its sinks, the outbox retention job."""
