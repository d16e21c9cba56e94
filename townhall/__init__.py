"""Townhall: live audio Spaces that do not fall over when the audience arrives."""

__version__ = "0.1.0"
