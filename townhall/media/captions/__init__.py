"""Live captions and transcripts: speech to text on each speaker's own audio, off the
mixer thread (a worker process), out as `caption` events, a WebVTT rendition in the HLS,
and a transcript file per recording (transcript.py: `load_transcript`)."""
