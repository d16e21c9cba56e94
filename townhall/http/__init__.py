"""HTTP adapters: the JSON API, HLS delivery, web pages; they translate, never decide."""
