"""Test support used by tests/ and benchmarks/ alike: process runners, backing services,
the edge harness, CPU measurement, audio analysis, browser helpers. Never imported by
the server."""
