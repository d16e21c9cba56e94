"""Clients of a Townhall server: a WHIP publisher and an LL-HLS reader.

Used by the load generators, the benchmarks and the tests; they talk to the server
only over HTTP and WebRTC, as any user's software would.
"""
