"""HLS origin: playlists (with blocking reload), parts, segments and replays."""
