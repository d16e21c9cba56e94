"""What a Space id looks like."""

from __future__ import annotations

import re

MAX_SPACE_ID_LENGTH = 16
# Space ids are URL-safe tokens (and "demo"). Anything else is not looked up: it names
# recording directories, and PostgreSQL refuses NUL in text (a 500, not a 404).
SPACE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SPACE_ID_LENGTH}}}")
