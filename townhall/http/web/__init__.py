"""Server-rendered pages and the small ES modules they load."""
