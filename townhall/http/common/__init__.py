"""What every HTTP adapter shares: request-scoped helpers, error docs, the Origin check."""
