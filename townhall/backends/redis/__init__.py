"""Cluster mode: what origin nodes share through Redis (segments and playlists, room
events, media ownership leases, audience figures). Single-node mode uses the in-process
versions of the same interfaces."""
