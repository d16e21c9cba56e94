vcl 4.1;
# Townhall's LL-DASH edge (rendered by townhall/edge/varnish.py; do not edit the output).
#
# What it is for: one origin request per DASH segment whatever the audience. Varnish
# streams an object to every client that asks for it while it is still arriving from
# the origin (beresp.do_stream), so a segment the origin sends chunk by chunk reaches
# every listener chunk by chunk. Everything that is not an HLS/DASH object passes.

import directors;
import std;

backend origin0 {
    .host = "127.0.0.1";
    .port = "8081";
    .connect_timeout = 1s;
    # A live DASH segment arrives over 8.192 s, a chunk a second:
    # waiting longer than that between bytes means the origin is stuck.
    .first_byte_timeout = 12s;
    .between_bytes_timeout = 5s;
    .probe = {
        .url = "/healthz";
        .interval = 1s;
        .timeout = 2s;
        .window = 5;
        .threshold = 3;
    }
}
backend origin1 {
    .host = "127.0.0.1";
    .port = "8082";
    .connect_timeout = 1s;
    # A live DASH segment arrives over 8.192 s, a chunk a second:
    # waiting longer than that between bytes means the origin is stuck.
    .first_byte_timeout = 12s;
    .between_bytes_timeout = 5s;
    .probe = {
        .url = "/healthz";
        .interval = 1s;
        .timeout = 2s;
        .window = 5;
        .threshold = 3;
    }
}

sub vcl_init {
    new origins = directors.round_robin();
    origins.add_backend(origin0);
    origins.add_backend(origin1);
}

sub vcl_recv {
    set req.backend_hint = origins.backend();
    if (req.url == "/edge/healthz") {
        return (synth(200, "OK"));
    }
    # The clock DASH players sync to: answered here, from this machine's clock (keep
    # edges and origins on NTP). Passed through, every joining player would be an origin
    # request, and a join storm would slow the origin past its health probe.
    if (req.url ~ "^/hls/clock(\?|$)") {
        return (synth(200, "clock"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Everything outside /hls/ (pages, API, events) is the origin's business.
    if (req.url !~ "^/hls/") {
        return (pass);
    }
    # Media and manifests are public or signed by their path: a cookie changes nothing,
    # so it must not split the cache (Varnish passes any request with one by default).
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_backend_response {
    # Hand each chunk on to every waiting client as it arrives (the default; said here
    # because the whole design rests on it).
    set beresp.do_stream = true;
    if (beresp.http.Cache-Control ~ "no-store" || beresp.status >= 500) {
        # "Not yet" answers: not cached, and only briefly remembered as uncacheable, so
        # the next request for the same name is coalesced again once it exists. (A
        # final "no", such as a segment of a run that ended, comes with a max-age and is
        # cached like anything else: players' retries stop here.)
        set beresp.uncacheable = true;
        set beresp.ttl = 1s;
        return (deliver);
    }
    if (bereq.url ~ "\.mpd$") {
        # A manifest changes when a run starts (a failover) or the Space ends: never
        # serve an expired copy while fetching a new one (grace would, for 10 s).
        set beresp.grace = 0s;
    }
}

sub vcl_backend_error {
    # The origin is down or cut the answer: try the next one (round robin), like the
    # nginx edge's proxy_next_upstream.
    if (bereq.retries < 2) {
        return (retry);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    set resp.http.Content-Type = "text/plain";
    if (resp.reason == "clock") {
        # ISO 8601 with milliseconds, as the origin's GET /hls/clock answers.
        set resp.http.Cache-Control = "no-store";
        set resp.body = std.strftime(now, "%Y-%m-%dT%H:%M:%S.")
            + regsub(regsub(std.time2real(now, 0.0) + "", "^[0-9]+[.]?", "") + "000",
                     "^(...).*$", "\1") + "Z";
        return (deliver);
    }
    set resp.body = resp.reason;
    return (deliver);
}
# varnishd parameters: -p timeout_idle=16 -p thread_pools=1 -p thread_pool_max=10000 -p thread_pool_min=200 -p thread_pool_stack=80k -p send_timeout=60
