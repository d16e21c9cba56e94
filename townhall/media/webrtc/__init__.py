"""WebRTC: WHIP resources, tracks, SDP checks, and every aiortc/aioice patch."""
