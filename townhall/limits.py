"""Limits that are part of the product. Each is named, with the reason for its value."""

# Audio format of the whole media path: WebRTC Opus decodes to 48 kHz, and AAC-LC at
# 48 kHz is what every HLS player decodes.
SAMPLE_RATE = 48_000
# One mixer tick is 20 ms: the Opus frame size browsers send, so one frame per tick.
TICK_SAMPLES = 960
# AAC-LC frames hold 1024 samples; LL-HLS parts are whole numbers of them.
AAC_FRAME_SAMPLES = 1024
# 12 AAC frames = 0.256 s per part: in the 0.25-0.5 s range LL-HLS suggests, at the low
# end because part duration is what sets listener latency (hold-back is 3 parts).
AAC_FRAMES_PER_PART = 12
# 8 parts = 2.048 s per segment, so EXT-X-TARGETDURATION rounds to 2.
PARTS_PER_SEGMENT = 8
# Segments listed in the live playlist: ~12 s, enough for a player that joins late or
# stalls briefly, short enough to keep every playlist reload small.
LIVE_PLAYLIST_SEGMENTS = 6
# AAC bitrate of the program mix: speech and light music in mono.
AAC_BITRATE = 64_000

# The listener path at Icecast's cost (LL-DASH, issue #16): a player makes one long
# request per segment and the origin answers it with chunked transfer as the audio is
# made. An edge's cost grows with chunks per listener-second (each chunk wakes every
# delivery thread of the object): with a stand-in origin (issue #16's table), Varnish
# with 1 s chunks was at Icecast's cost where 0.5 s chunks cost 1.5x; behind Townhall's
# origin, 1.07-1.8x for Varnish alone (BENCHMARKS.md §13). Longer chunks cost latency:
# a player waits for a whole chunk (2.048 s chunks: varnishd -34 %, dash.js ~1 s further
# behind, over the 2 s target). 4 parts = 1.024 s per chunk.
DASH_PARTS_PER_CHUNK = 4
# 8 chunks = 8.192 s per segment (4 HLS segments): about one request per 8 s, and the
# per-request share of the cost below a fifth.
DASH_CHUNKS_PER_SEGMENT = 8
# A player re-reads the manifest this often. It changes only when a new encoder run
# starts (a restart or a failover) or the Space ends, and the player re-reads it at
# once then (a segment that will never come; the page hearing the end), so this is a
# safety net: every refresh is a request per listener (at 8 s, a third of them).
DASH_MANIFEST_REFRESH_SECONDS = 30
# The distance from live a DASH player aims for, and the playback rates it may use to
# get there: one chunk, what the encoder needs to close it, and a margin.
DASH_TARGET_LATENCY_SECONDS = 1.5
DASH_CATCHUP_RATE = 0.05

# Speakers at once including the host and co-hosts (same cap as X Spaces).
MAX_SPEAKERS = 13
# A WHIP offer from Chromium with one audio section is ~4 KiB; OBS ~6 KiB. 64 KiB leaves
# room for many candidates while refusing bodies meant to exhaust memory.
MAX_SDP_BYTES = 64 * 1024
# Any request body (JSON API, forms, WHIP): twice the largest SDP we accept, so WHIP's
# own clearer 413 answers first; larger bodies are refused before they are read whole.
MAX_REQUEST_BODY_BYTES = 2 * MAX_SDP_BYTES
# A speaker publishes one audio track; a few extra sections (e.g. a data channel or a
# disabled video) are tolerated and rejected by the answer.
MAX_SDP_MEDIA_SECTIONS = 4
# Titles longer than a tweet's worth do not fit a card on a phone.
MAX_TITLE_LENGTH = 140
MIN_USERNAME_LENGTH = 3
MAX_USERNAME_LENGTH = 32
MIN_PASSWORD_LENGTH = 8
# argon2 cost grows with length; cap to stop hashing megabyte "passwords".
MAX_PASSWORD_LENGTH = 256

# Per-speaker jitter buffer: at most 100 ms (5 ticks) of audio waits to be mixed; more
# means the sender runs fast or bursts, and old audio is dropped to keep latency low.
JITTER_BUFFER_MAX_TICKS = 5
# After a gap, a speaker is mixed again once 2 ticks (40 ms) wait, so one late packet
# does not cause a second gap; a buffer that stays above this for JITTER_SETTLE_TICKS
# (1 s) loses one tick, so a burst does not add latency for the rest of the Space.
JITTER_BUFFER_TARGET_TICKS = 2
JITTER_SETTLE_TICKS = 50
# aiortc's own audio jitter buffer waits for this many frames before releasing one
# (its default is 4 = 80 ms); ours above does the smoothing.
AIORTC_AUDIO_PREFETCH = 1
# Frames waiting for a speaker's outgoing (mix-minus) track; older ones are dropped.
MIX_MINUS_QUEUE_TICKS = 10

# Blocking playlist reload waits at most this many target durations (the spec suggests
# answering within three), then answers 503 so the client retries.
BLOCKING_RELOAD_TARGET_DURATIONS = 3
# A blocking request may ask at most this many segments ahead of the newest.
BLOCKING_RELOAD_MAX_SEGMENTS_AHEAD = 2
# Co-hosts help the host moderate; X Spaces allows two.
MAX_COHOSTS = 2
MAX_TOPICS = 3
MAX_TOPIC_LENGTH = 40
MAX_DESCRIPTION_LENGTH = 1000
# A Space may be scheduled up to two weeks ahead (as on X Spaces).
MAX_SCHEDULE_AHEAD_DAYS = 14
# Pinned links: long enough for any real URL with tracking parameters.
MAX_URL_LENGTH = 2000
# Reactions: a burst of 5, then 2 per second per client: enough to cheer, not to flood.
REACTION_BURST = 5
REACTIONS_PER_SECOND = 2.0
# Audience beacons per client address: each player beacons every 10 s, so this many
# listeners behind one address (a NAT, an office) are counted; a script forging beacons
# from one address cannot add more than this many fake listeners.
LISTENERS_PER_ADDRESS = 200
# ... and that address's new listeners in one Space refill at that many per hour: people
# behind a NAT join, leave and rejoin, yet a script minting fresh player ids cannot keep
# adding listeners (it added 679 in 24 s) or grow the unique count at will.
NEW_LISTENERS_REFILL_SECONDS = 3600.0
# Hand raises: a listener may raise/lower 4 times in a row, then once per 5 s.
HAND_RAISE_BURST = 4
HAND_RAISES_PER_SECOND = 0.2
# Scheduled Spaces whose waiting room (silent stream before start) may run at once.
MAX_WAITING_ROOMS = 100
# A waiting room opens only this long before a Space's start: a launch's audience
# gathers hours ahead and finds it playing, while GETs for Spaces due later (20 of them
# once started 20 idle mixers; 100 filled the cap) start nothing.
WAITING_ROOM_LEAD = 3 * 3600.0
# Live Spaces one host may run at once: each runs a mixer and an encoder (~1.5 % of a
# core: 60 at once from one account took a whole core and broke every Space's audio).
# Two, like the Spaces one person may speak in at once.
MAX_LIVE_SPACES_PER_HOST = 2
# Speakers' mix-minus, encoded in the mixer's thread (townhall/media/opus.py): mono
# Opus for speech. aiortc's own encoder resamples every frame to stereo at 96 kb/s;
# 32 kb/s mono is transparent for voices and a third of the bytes.
MIX_MINUS_OPUS_BITRATE = 32_000
# A speaker is talking while their input is above this RMS (of full scale, -50 dBFS:
# well under a quiet voice, above a silent microphone's hiss) or was within the last
# TALKING_HANGOVER_TICKS (0.5 s: pauses between words do not switch encoders). Only
# talkers need a mix that leaves them out; everyone else gets the one shared program.
TALKING_RMS = 0.00316
TALKING_HANGOVER_TICKS = 25
# A speaker's packet whose RFC 6464 audio level (sent by Chromium and aiortc) is at or
# below -90 dBov (quieter than 16-bit audio's own noise floor) is silence: it is not
# decoded, the mixer gets zeros (townhall/media/webrtc/aiortc_tuning.py).
SILENT_AUDIO_LEVEL = 90
# Mixing admission (townhall/domain/capacity.py). What mixing costs on this machine
# kind, in shares of one core (BENCHMARKS.md §12, benchmarks.spaces_per_core and
# space_cpu, 2026-12-05): an idle live Space 0.01-0.025 (clock, AAC, playlist), a
# 4-speaker Space 0.06-0.11 (one core held 15 on a quiet machine, 9 on a busy one), 13
# speakers all talking 0.2-0.4. Planned at the busy machine's figures: 0.03 a Space or
# waiting room and 0.0175 per connected speaker (a 4-speaker Space 0.10).
SPACE_MIX_COST = 0.03
SPEAKER_MIX_COST = 0.0175
# One process mixes on one core (aiortc and the mixer share its GIL): it plans for at
# most this much of it, so the API, playlists and live events keep the rest and no
# tick runs late. One core held 9-15 four-speaker Spaces without a late tick (the
# busy machine's figure first); this budget admits 8 and a ninth's first speaker.
MIX_BUDGET = 0.85
# A go-live or speaker refused for capacity is told to try again after this long
# (a Space ending or a speaker leaving frees room; minutes, not seconds).
NODE_FULL_RETRY_AFTER = 60
# Spaces one account may have scheduled and not yet started: enough for a fortnight of
# daily shows and more; 800 made in 10 s by a script filled lists and the database.
MAX_SCHEDULED_SPACES_PER_HOST = 50
# Spaces one account creates: 10 in a row, then one a minute (a host retrying a form
# is never slowed; a script is).
SPACE_CREATE_BURST = 10
SPACES_CREATED_PER_SECOND = 1 / 60
# WHIP credentials per account: a speaker's page asks once per time on stage (its
# reconnects reuse the token), so 20 in a row then one per 10 s never slows a person;
# each is a database row, and a script minted them without bound.
STAGE_TOKEN_BURST = 20
STAGE_TOKENS_PER_SECOND = 1 / 10
# Invite links per account: a host makes a few per Space; 10 in a row, then one a minute.
INVITE_LINK_BURST = 10
INVITE_LINKS_PER_SECOND = 1 / 60
# Events waiting for one slow live-events client before it is disconnected.
EVENT_QUEUE_SIZE = 256
# Live-event streams open at once from one client address: one per tab, and as many
# tabs behind one address as listeners counted per address (LISTENERS_PER_ADDRESS), so
# an office NAT is never refused; 1,500 from one script took /healthz to 3.4 s and made
# mixer ticks 17 % late.
EVENT_STREAMS_PER_ADDRESS = LISTENERS_PER_ADDRESS
# ... and on one node in all: each costs a queue and a task; beyond this a node's loop
# (which also carries WebRTC and playlist reloads) is better served by another node.
MAX_EVENT_STREAMS = 5000
# Sign-in attempts per client address: 10 in a row, then one every 5 s, so guessing a
# password online takes days, while a person who mistypes is never slowed down.
SIGNIN_BURST = 10
SIGNINS_PER_SECOND = 0.2
# Accounts created per client address: 5, then one a minute (stops scripted sign-up).
SIGNUP_BURST = 5
SIGNUPS_PER_SECOND = 1 / 60
# WHIP offers per speaker: reconnecting clients retry, but not in a tight loop (each
# offer costs the server a peer connection and ICE gathering).
WHIP_BURST = 10
WHIP_OFFERS_PER_SECOND = 1.0
# One person speaks in at most 2 Spaces at once (a host checking a co-host's Space, say);
# each connection costs ~5 % of a core, so an account cannot tie up a node.
MAX_WHIP_CONNECTIONS_PER_USER = 2

# Players beacon every 10 s: a listener appears within 10 s and costs the origin one
# tiny request per 10 s (a part request costs as much, every 0.256 s). The method of
# the audience figures: townhall/backends/audience.py.
BEACON_INTERVAL = 10.0
# The listener roster (GET /api/spaces/{id}/listeners) names at most this many signed-in
# listeners, the latest first: the page shows a few faces and "and N others", and the
# answer every listener's page asks for stays a few KB however large the audience.
MAX_LISTED_LISTENERS = 24

# Threads for blocking work off the event loop (townhall/threads.py). Few: threads
# running Python take the GIL from the loop (50 busy ones stalled audio ~150 ms).
DATABASE_THREADS = 4  # SQLite serialises writes; PostgreSQL queries are short
MEDIA_FILE_THREADS = 2  # recording writes and fsyncs (they wait on the disk, not the GIL)
FILE_THREADS = 4  # replays and recorded segments served to clients
PASSWORD_THREADS = 2  # argon2 (~50 ms each, without the GIL): a flood waits its turn
# Sending email (smtplib waits on the network): one, so one SMTP connection at a time.
MAIL_THREADS = 1
# Threads for FastAPI's plain `def` routes and dependencies (anyio's limiter; its
# default is 40): the same reasoning, every signed-in request looks its session up.
SYNC_ROUTE_THREADS = 8
# How long a thread running Python keeps the GIL while the loop waits for it (CPython's
# default is 5 ms): the loop gives the GIL up at every socket and codec call, so with a
# busy database thread each of those cost it up to this long.
GIL_SWITCH_INTERVAL = 0.0005
# Signed-in sessions remembered per node (townhall/http/common/deps.py): signing out
# elsewhere in a cluster takes effect here within this long; the entries bound memory.
SESSION_CACHE_SECONDS = 2.0
# A session ends on the server this long after sign-in, whatever the browser keeps: a
# stolen or forgotten cookie does not work for ever. A month, as many sites do, so
# people are not asked to sign in all the time; signing in again starts a new one.
SESSION_LIFETIME = 30 * 24 * 3600
SESSION_CACHE_ENTRIES = 50_000
# API writes worked on at once per node (townhall/http/common/gate.py): enough to keep
# the database threads busy, few enough that a burst never fills a pass of the event
# loop that carries the speakers' audio.
CONCURRENT_WRITES = 4

# Profiles (townhall/http/api/users.py). A display name fits beside a face in a speaker
# grid on a phone (X allows 50); a bio is a line or two under it (X allows 160).
MAX_DISPLAY_NAME_LENGTH = 50
MAX_BIO_LENGTH = 160
# Avatars (townhall/app/avatars.py): a phone photo as it comes off the camera (a 12 MP
# JPEG is 2-5 MB) is accepted; larger files are refused before they are read whole.
MAX_AVATAR_BYTES = 5 * 1024 * 1024
# A request must arrive whole (headers and body) within this many seconds of its
# connection opening, or of the previous response on it (townhall/http/common/timely.py):
# the largest upload (an avatar, MAX_AVATAR_BYTES) at ~700 kbit/s, as nginx's default
# body timeout; a client trickling a byte every few seconds is cut off after it.
REQUEST_TIMEOUT = 60.0
# Pixels decoded at most: 25 MP is a 12 MP photo twice over; decoding one takes ~100 MB
# and a fraction of a second. A small file claiming more (a decompression bomb: a few KB
# of PNG that decodes to gigabytes) is refused from its header, before any decoding.
MAX_AVATAR_PIXELS = 25_000_000
# Stored sizes (square, WebP): 256 px for a speaker's face at 2x on a high-density
# screen, 64 px for lists and rosters.
AVATAR_SIZE = 256
AVATAR_SMALL_SIZE = 64
# Uploads per account: 5 in a row, then one every 30 s. Each costs a decode (up to a
# fraction of a second of a core); a person trying a few photos is never slowed.
AVATAR_UPLOAD_BURST = 5
AVATAR_UPLOADS_PER_SECOND = 1 / 30
# Uploads received at once per node: each holds up to MAX_AVATAR_BYTES in memory while
# it arrives (slowly, from a phone); the others wait, their bodies not yet read. They do
# not take an API write turn (CONCURRENT_WRITES): a slow upload would hold one throughout.
AVATAR_UPLOADS_AT_ONCE = 4
# Avatars are decoded one at a time per node (townhall/threads.py IMAGES): a decode may
# hold ~100 MB and a core, so a burst of uploads queues instead of taking the node.
IMAGE_THREADS = 1

# The lifecycle (townhall/app/lifecycle.py). A live Space whose host and co-hosts are all
# off stage (no WHIP connection) this long gets a warning everyone sees: long enough for
# a dropped connection or a browser restart to come back (speaker clients retry for up
# to 2 min), short enough that listeners are not left for long with nobody in charge.
HOST_ABSENT_WARNING = 120.0
# It then ends itself this long after the warning unless the host or a co-host returns:
# time for a host who stepped away to see the notice (or be told) and come back; five
# minutes in all with nobody in charge, so a forgotten Space never stays live for hours.
# Its replay stops at the warning: the silence after it is not kept.
HOST_ABSENT_END = 180.0
# The media owner looks at who is on stage this often (a speaker joining or leaving the
# stage wakes it at once): the warning comes at most this late, and the look is cheap
# (one query for every Space the node mixes).
LIFECYCLE_CHECK_EVERY = 5.0
# A Space that never went live is cancelled this long after its start time (its creation
# for a "now" Space): a host who is late or fiddling with a microphone has hours, yet a
# Space nobody started does not linger to the next day.
NOW_SPACE_EXPIRY = 6 * 3600.0
# Upcoming lists a Space until this long after its start time: listeners wait a little
# for a late host; after that the card would only promise "starting soon" in vain (its
# host still sees it until it expires).
UPCOMING_GRACE = 15 * 60.0
# Every origin looks for Spaces that never went live this often (any of them may cancel
# one: the change is conditional on the Space still being scheduled), at most this many
# per pass, so one pass never floods the write path.
SWEEP_EVERY = 60.0
SWEEP_BATCH = 100

# Follows and notifications (townhall/http/api/follows.py, townhall/app/notifier.py).
# Follows per account: 30 in a row, then one every 2 s. A person following a few hosts
# is never slowed; a script following every account (each one a row, and a fan-out
# target whenever that host goes live) is.
FOLLOW_BURST = 30
FOLLOWS_PER_SECOND = 0.5
# Confirmation emails per account (a new address in settings sends one): 3 in a row for
# typos, then one an hour, so nobody can use Townhall to mail a stranger's inbox again
# and again.
EMAIL_CONFIRM_BURST = 3
EMAIL_CONFIRMS_PER_SECOND = 1 / 3600
# Web Push subscriptions added or changed per account: a person turns push on in a few
# browsers (the cap, MAX_PUSH_SUBSCRIPTIONS_PER_USER, speaks first); a script
# registering endpoints again and again (each a URL we will call) is slowed.
PUSH_SUBSCRIBE_BURST = 20  # twice MAX_PUSH_SUBSCRIPTIONS_PER_USER
PUSH_SUBSCRIBES_PER_SECOND = 1 / 60
# People per page of a followers or following list: a screenful of names and faces.
FOLLOW_PAGE_SIZE = 50
# Notifications per page of GET /api/me/notifications (and its default): the bell's
# panel shows the latest few; older ones are a page further.
NOTIFICATIONS_PAGE_SIZE = 50
# Notification rows one fan-out batch inserts (one database thread, one transaction):
# ~a few ms on SQLite, so a host with a million followers never holds a database thread
# (or SQLite's write lock) long enough for requests to queue behind it.
NOTIFY_BATCH_SIZE = 1000
# Fan-out jobs waiting for the worker: a go-live enqueues one; beyond this the oldest
# are not dropped, the newest is (logged) rather than holding memory without bound.
NOTIFY_QUEUE_SIZE = 10_000
# A Redis command (or pipeline) that fails on a connection error is sent once more on a
# new connection: after Redis restarts, every pooled connection is dead, and the first
# request to pick one up would otherwise get a 503 though Redis is back. One retry, no
# backoff: while Redis is down a request still gets its 503 at once.
REDIS_COMMAND_RETRIES = 1
# Batches (each up to NOTIFY_BATCH_SIZE people) waiting for one channel (email, Web Push):
# 100 batches is a 100,000-follower go-live; past that the newest batch is dropped and
# counted (townhall_notifications_total{outcome="dropped"}) rather than held in memory.
DELIVERY_QUEUE_SIZE = 100
# RFC 5321's limit on a forward path (an address longer than this cannot be delivered).
MAX_EMAIL_LENGTH = 254
# Push services' endpoints are a URL of ~200 characters (FCM, Mozilla, Apple); 1000
# leaves room and bounds what a client can make us store and call.
MAX_PUSH_ENDPOINT_LENGTH = 1000
# Browsers a person may receive Web Push on: a phone, a laptop, a few more; each is one
# more request per notification, so an account cannot make one go-live cost thousands.
MAX_PUSH_SUBSCRIPTIONS_PER_USER = 10
# Notification emails (townhall/app/mailer.py). Messages handed to the SMTP server per
# turn of its thread: progress is logged and counted between turns, and closing the
# channel waits for at most one turn (~a second on a local relay).
EMAIL_SEND_CHUNK = 50
# Seconds one SMTP command may take (connect, each message): a mail server that stops
# answering fails that batch instead of holding the email worker for ever.
SMTP_TIMEOUT = 30.0
# Times a batch reconnects after the server drops the connection (an idle timeout, a
# restart): a server that keeps dropping fails the rest of the batch, counted.
SMTP_RECONNECTS = 3
# How long an emailed "confirm your address" link works: a week to get to one's inbox;
# a new address asked for later invalidates it anyway (the link signs the address).
EMAIL_CONFIRM_VALIDITY = 7 * 24 * 3600
# The longest emailed-link token we read (user id, kind or expiry, signature: ~50
# characters): anything longer is refused before any work.
MAX_EMAIL_TOKEN_LENGTH = 200
# Web Push sends (townhall/app/webpush.py). Requests to push services in flight at once
# per batch: push services answer in ~50-200 ms, so 16 at once is ~100-300 pushes a second,
# a 10,000-subscriber go-live in about a minute, without opening hundreds of sockets.
PUSH_SENDS_AT_ONCE = 16
# Seconds one push request may take (connect, send, answer): a push service that hangs
# costs one of the slots above for this long, never the batch.
PUSH_TIMEOUT = 10.0
# How long a push service keeps a message for a browser that is offline (the TTL header,
# seconds): a Space going live or an invitation to speak is stale after an hour.
PUSH_TTL = 3600
# Lifetime of a VAPID token (the JWT's exp): RFC 8292 allows at most 24 h; 12 h, reused
# for every push to the same push service until an hour is left, so a go-live signs once
# per push service instead of once per browser.
VAPID_TOKEN_LIFETIME = 12 * 3600
VAPID_TOKEN_RENEW_BEFORE = 3600
# Threads encrypting pushes (an ECDH key and AES-GCM per message, ~0.3 ms in C): one is
# plenty for the rate above, and keeps the work off the event loop.
PUSH_THREADS = 1

# Search (GET /api/search, townhall/store/search.py).
# A query is what a person types to find a Space or someone: 100 characters is more than
# any title (MAX_TITLE_LENGTH is 140, but nobody types one whole) and bounds the work.
MAX_SEARCH_QUERY_LENGTH = 100
# Words per query: each is one more index lookup (a prefix, so possibly many terms), and
# with every word required, more than 8 only finds nothing.
MAX_SEARCH_WORDS = 8
# Hits per page: a screenful of cards on a phone, few enough to present in one go.
SEARCH_PAGE_SIZE = 20
# Pages: a Space's visibility is decided by its Room, so a deep page checks every Space
# before it; nobody reads 200 results (they refine the words instead).
MAX_SEARCH_PAGES = 10
# Characters of a description shown around the first match in a Space's snippet.
SEARCH_SNIPPET_LENGTH = 160
# Characters of a Space's final transcript kept for search (the rest is not indexed):
# about four hours of speech, and far below PostgreSQL's 1 MB limit of a tsvector.
MAX_TRANSCRIPT_SEARCH_CHARS = 200_000

# Incident timeline (townhall/domain/incidents.py: the figures and the verdict rules;
# README "Incident timeline"). Thresholds are per second or shares, so they mean the
# same whatever the bucket length (TOWNHALL_TIMELINE_BUCKET_SECONDS, default 60).
# A bucket: one minute, the unit people read a timeline in ("at 20:03 it fell over").
TIMELINE_BUCKET_SECONDS = 60
# Buckets kept per Space: a day of minutes; older ones are dropped first (a Space that
# runs longer keeps its last 24 hours), so memory per Space is bounded.
TIMELINE_MAX_BUCKETS = 24 * 60
# Client networks (/24 for IPv4, /48 for IPv6) counted one by one per bucket; past it,
# requests from new networks go to an "others" bucket (counted, not told apart), so a
# flood from millions of addresses costs bounded memory. 20,000 networks is ~2 MB.
TIMELINE_MAX_NETWORKS = 20_000
# The "top networks" whose share of the traffic says how concentrated it was.
TIMELINE_TOP_NETWORKS = 10
# Time-to-first-audio samples kept per bucket (a uniform reservoir) for p50/p99.
TIMELINE_MAX_TTFA_SAMPLES = 4096
# Verdict rules. Too few requests say nothing about concentration or refusals: below
# 5 requests/s (under one LL-HLS listener's worth) a bucket is judged on capacity only.
TIMELINE_MIN_REQUESTS_PER_SECOND = 5.0
# "Mostly refused": at least half the requests were refused by a named limit (429).
TIMELINE_REFUSED_SHARE = 0.5
# "Concentrated": the top 10 networks sent at least 80 % of the requests, at over 50
# requests/s in all (a handful of LL-HLS listeners make ~8 each; a venue behind one NAT
# is rarely that many, and only counts when something else is wrong: see the rules).
TIMELINE_CONCENTRATED_SHARE = 0.8
TIMELINE_CONCENTRATED_REQUESTS_PER_SECOND = 50.0
# Refusals that, with concentrated traffic, mean someone is pushing at the limits.
TIMELINE_SOME_REFUSED_SHARE = 0.1
# Signs of too little capacity: 5xx on more than 2 % of answers; a join (playlist to
# first part) p99 over 5 s (a listener who waits that long leaves); a media answer p99
# over 2 s (blocking playlist reloads, which wait for the next part on purpose, left
# out: an object that exists taking 2 s is the server being slow); fewer than 90 % of join attempts reaching audio; the mixer late on more than
# 5 % of its 20 ms ticks (speakers hear gaps: the CPU is short).
TIMELINE_ERROR_SHARE = 0.02
TIMELINE_SLOW_FIRST_AUDIO_SECONDS = 5.0
TIMELINE_SLOW_ANSWER_SECONDS = 2.0
TIMELINE_JOIN_SUCCESS_SHARE = 0.9
TIMELINE_MIXER_LATE_SHARE = 0.05
# Join attempts fewer than this in a bucket are too few to judge a success share by.
TIMELINE_MIN_JOINS = 20
# A player's reported time to first audio is taken up to 10 minutes (anything longer is
# a player left paused, not a join).
MAX_FIRST_AUDIO_MS = 600_000

# Operator moderation (townhall/app/moderation.py, README "Moderation and the
# transparency log"). Reports per account: 5 in a row, then one a minute: someone
# reporting what they saw is never slowed; a flood of reports (to bury a real one in
# the operators' queue, or to pile on one person) is.
REPORT_BURST = 5
REPORTS_PER_SECOND = 1 / 60
# A report's optional note, an appeal and an operator's private note: a paragraph each.
MAX_REPORT_NOTE_LENGTH = 500
MAX_APPEAL_LENGTH = 1000
MAX_MODERATION_NOTE_LENGTH = 1000
# A suspension lasts 1 to 365 days, or until an operator lifts it.
MAX_SUSPENSION_DAYS = 365
# Reports and appeals an operator's queue shows at once; log entries per page of
# GET /api/transparency (and the /transparency page).
MODERATION_QUEUE_SIZE = 100
TRANSPARENCY_PAGE_SIZE = 50
# Appending to the log retries when another origin took the next number at the same
# moment (PostgreSQL: the primary key refuses the second); more than this means
# something else is wrong.
LOG_APPEND_ATTEMPTS = 5

# Clips, downloads, trims and retention of replays (townhall/app/recordings.py, README
# "Clips", "Download, trim and retention"). A clip is at most 60 s of a replay (enough
# for a point someone made; not a way to copy the Space) and at least 1 s; a clip of a
# live Space is its last 30 s (as X's), of what has been recorded by then.
MAX_CLIP_SECONDS = 60.0
MIN_CLIP_SECONDS = 1.0
LIVE_CLIP_SECONDS = 30.0
MAX_CLIP_TITLE_LENGTH = 140
# Clips per account: 10 in a row, then one a minute: clipping a few moments of a Space
# is never slowed; a script filling the disk with exports is.
CLIP_BURST = 10
CLIPS_PER_SECOND = 1 / 60
# Remuxes (a replay or a clip to .m4a) running at once on a node: each reads and writes
# the whole stretch; more would take the disk and the GIL from live audio. Others wait.
EXPORT_THREADS = 1
# Replays are kept this many days after the Space ends (X keeps 30), then deleted; 0
# keeps them for good. The host is told this many days before (in the app), and a
# replay is never deleted sooner than that after the notice.
REPLAY_RETENTION_DAYS = 30.0
REPLAY_EXPIRY_NOTICE_DAYS = 7.0
# How often a node looks for replays to warn about or delete (seconds), and how many
# each look handles.
RETENTION_CHECK_EVERY = 3600.0
RETENTION_BATCH = 100
# A host's podcast feed lists their newest replays, at most this many (podcast apps
# read the whole feed each time), and may be cached this long (seconds).
MAX_FEED_ITEMS = 100
FEED_CACHE_SECONDS = 900
# Clips listed per Space (newest first).
CLIPS_LISTED = 50
# Live captions (townhall/media/captions): one captioned Space's speech recogniser is
# held to this share of a core (Whisper tiny.en live, a partial every 2 s, needs ~0.4
# CPU-s per second of speech: FIELD-NOTES), and a node captions at most this many Spaces
# per core it has (default of TOWNHALL_CAPTIONS_MAX_SPACES), so the mixers keep the rest.
CAPTIONS_CPU_SHARE = 0.5
CAPTIONED_SPACES_PER_CORE = 0.5
# Final transcripts made at once on a node (each decodes a whole Space with a beam).
TRANSCRIPT_PASSES = 1
# The one-stream listener path's publisher (townhall/backends/stream_edges.py): chunks
# waiting for an edge, beyond which the oldest is dropped (8 s of audio: an edge that
# cannot take them that long has lost its listeners' place anyway, and a mixer must never
# wait on an edge), and how long one POST to an edge may take (a chunk is made every
# 1.024 s).
STREAM_PUBLISH_QUEUE = 8
STREAM_PUBLISH_TIMEOUT = 2.0
