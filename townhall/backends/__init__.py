"""Backends: one interface each (segment store, event bus, audience book, rate limits,
media leases), an in-process twin in `memory/` and a shared twin in `redis/`."""
