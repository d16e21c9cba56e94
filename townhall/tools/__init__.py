"""Tools that talk to a Townhall server over HTTP and WebRTC only (bench, clients)."""
