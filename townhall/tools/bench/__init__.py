"""`townhall bench`: a launch pre-flight users can run against their own server.

- `listeners`: N simulated low-latency HLS players (listeners.py);
- `join-storm`: N joins spread over T seconds (join_storm.py);
- `speakers`: K speakers publishing tones over WHIP into a new Space (speakers.py).

Every run is bounded in count and time (the MAX_* constants below), prints a progress
line every second and a summary table at the end, and talks only to the URL it is
given: no redirects are followed and proxy variables from the environment are ignored.
"""

from __future__ import annotations

from townhall import limits

# Listeners one run may simulate: the load generator is one Python process; past this
# it measures itself, not the server (see the generator line in the summary).
MAX_LISTENERS = 20_000
# Joins one join storm may make.
MAX_JOINS = 20_000
# Longest listener or speaker run, and the longest window a join storm is spread over.
MAX_DURATION = 3600.0
MAX_JOIN_WINDOW = 600.0
# Speakers at once in a Space (the product's own limit).
MAX_SPEAKERS = limits.MAX_SPEAKERS
