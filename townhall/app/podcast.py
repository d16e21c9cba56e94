"""A host's podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces.

One item per public ended Space of theirs whose replay is still there (never a private
one, nor one taken down or deleted), newest first, at most MAX_FEED_ITEMS: its .m4a
(remuxed once and cached: townhall/app/recordings.py) as the enclosure with its length
in bytes, its duration, and `podcast:transcript` (WebVTT) when it has a transcript.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
CATEGORY = "Society & Culture"
FEED_TYPE = "application/rss+xml"


@dataclass(frozen=True)
class Episode:
    space_id: str
    title: str
    description: str
    page_url: str
    audio_url: str
    audio_bytes: int
    seconds: float
    published: datetime
    transcript_url: str | None


@dataclass(frozen=True)
class Show:
    username: str
    name: str
    about: str
    profile_url: str
    feed_url: str
    image_url: str


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def render_feed(show: Show, episodes: list[Episode]) -> bytes:
    ET.register_namespace("itunes", ITUNES)
    ET.register_namespace("podcast", PODCAST)
    ET.register_namespace("atom", ATOM)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    title = f"{show.name} on Townhall"
    about = show.about or f"Replays of the live audio Spaces hosted by @{show.username}."
    _sub(channel, "title", title)
    _sub(channel, "link", show.profile_url)
    _sub(channel, "description", about)
    _sub(channel, "language", "en")
    _sub(channel, "generator", "Townhall")
    _sub(channel, f"{{{ATOM}}}link", href=show.feed_url, rel="self", type=FEED_TYPE)
    image = _sub(channel, "image")
    _sub(image, "url", show.image_url)
    _sub(image, "title", title)
    _sub(image, "link", show.profile_url)
    _sub(channel, f"{{{ITUNES}}}author", show.name)
    _sub(channel, f"{{{ITUNES}}}summary", about)
    _sub(channel, f"{{{ITUNES}}}image", href=show.image_url)
    _sub(channel, f"{{{ITUNES}}}category", text=CATEGORY)
    _sub(channel, f"{{{ITUNES}}}explicit", "false")
    _sub(channel, f"{{{ITUNES}}}type", "episodic")
    if episodes:
        _sub(channel, "lastBuildDate", format_datetime(max(e.published for e in episodes)))
    for episode in episodes:
        item = _sub(channel, "item")
        _sub(item, "title", episode.title)
        _sub(item, "description", episode.description or f"A Space hosted by @{show.username}")
        _sub(item, "link", episode.page_url)
        _sub(item, "guid", f"townhall-space-{episode.space_id}", isPermaLink="false")
        _sub(item, "pubDate", format_datetime(episode.published.astimezone(UTC)))
        _sub(item, "enclosure", url=episode.audio_url, length=str(episode.audio_bytes),
             type="audio/mp4")
        _sub(item, f"{{{ITUNES}}}duration", _duration(episode.seconds))
        _sub(item, f"{{{ITUNES}}}episodeType", "full")
        _sub(item, f"{{{ITUNES}}}explicit", "false")
        if episode.transcript_url is not None:
            _sub(item, f"{{{PODCAST}}}transcript", url=episode.transcript_url,
                 type="text/vtt", language="en")
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)
