"""In-process backends: one node, no shared state (the default)."""
