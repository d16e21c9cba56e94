"""Media: WHIP ingest, the per-Space mixer, AAC encoding and the LL-HLS packager."""
