"""Profiles over HTTP against the session's server: display name and bio, avatars
uploaded (decoded and resized server-side), served with caching headers, refused with
a code and a sentence when the file is not a usable image, placeholders for everyone
else, and names and faces wherever the API lists a person."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from townhall import limits
from townhall.testing.servers import Server, signed_in_client

PNG_TYPE = {"Content-Type": "image/png"}


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def portrait_png() -> bytes:
    """A 300x500 photo-like PNG: left half red, right half blue, a green band across
    the middle third (what a centred square crop keeps)."""
    image = Image.new("RGB", (300, 500), (220, 30, 30))
    image.paste((30, 30, 220), (150, 0, 300, 500))
    image.paste((20, 200, 20), (0, 200, 300, 300))
    return encoded(image)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and header claiming width x height, with almost no data:
    what a decompression bomb looks like before it is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def username_of(client: httpx.Client) -> str:
    return client.get("/api/me").json()["username"]


@pytest.fixture
def owner(server: Server) -> Iterator[httpx.Client]:
    client = signed_in_client(server.base_url, "prof")
    yield client
    client.close()


@pytest.fixture
def other(server: Server) -> Iterator[httpx.Client]:
    client = signed_in_client(server.base_url, "other")
    yield client
    client.close()


def decoded(response: httpx.Response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_a_new_user_has_a_placeholder_face_and_their_username_as_name(
        owner: httpx.Client, api: httpx.Client) -> None:
    me = owner.get("/api/me").json()
    profile = api.get(f"/api/users/{me['username']}").json()
    assert profile["display_name"] == me["username"] and profile["has_display_name"] is False
    assert profile["bio"] == "" and profile["has_avatar"] is False
    assert profile["can"] == []  # anonymous: nothing to edit
    url = profile["avatar_url"]
    assert url == profile["avatar_small_url"]
    assert url.startswith(f"/avatars/{me['id']}/initials/") and url.endswith(".svg")
    svg = api.get(url)
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "immutable" in svg.headers["cache-control"]
    assert "default-src 'none'" in svg.headers["content-security-policy"]
    assert f">{me['username'][0].upper()}</text>" in svg.text
    # The same request again, with the ETag it gave: not modified.
    again = api.get(url, headers={"If-None-Match": svg.headers["etag"]})
    assert again.status_code == 304


def test_the_owner_edits_their_name_and_bio(owner: httpx.Client, api: httpx.Client) -> None:
    me = owner.get("/api/me").json()
    mine = owner.get(f"/api/users/{me['username']}").json()
    assert mine["can"] == ["edit"]
    edited = owner.patch(f"/api/users/{me['username']}",
                         json={"display_name": "  Ada   Lovelace ", "bio": "Counts.\r\nNotes."})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["display_name"], body["has_display_name"], body["bio"]) == (
        "Ada Lovelace", True, "Counts.\nNotes.")
    # The placeholder follows the name: "AL".
    assert body["avatar_url"] == f"/avatars/{me['id']}/initials/AL.svg"
    assert ">AL</text>" in api.get(body["avatar_url"]).text
    seen = api.get(f"/api/users/{me['username']}").json()
    assert (seen["display_name"], seen["bio"]) == ("Ada Lovelace", "Counts.\nNotes.")
    # Left out: unchanged; "" clears it (back to the username).
    assert owner.patch(f"/api/users/{me['username']}", json={"bio": ""}).json()[
        "display_name"] == "Ada Lovelace"
    cleared = owner.patch(f"/api/users/{me['username']}", json={"display_name": ""}).json()
    assert (cleared["display_name"], cleared["has_display_name"], cleared["bio"]) == (
        me["username"], False, "")


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"display_name": "x" * (limits.MAX_DISPLAY_NAME_LENGTH + 1)}, "display_name",
     f"at most {limits.MAX_DISPLAY_NAME_LENGTH} characters"),
    ({"bio": "x" * (limits.MAX_BIO_LENGTH + 1)}, "bio", f"at most {limits.MAX_BIO_LENGTH}"),
    ({"display_name": "Ada\u202eecalevol"}, "display_name", "cannot be shown"),
    ({"bio": "bell\x07"}, "bio", "cannot be shown"),
    ({"display_name": 5}, "display_name", "must be text"),
    ({"username": "renamed"}, "username", "not something this accepts"),
])
def test_a_bad_name_or_bio_is_refused_in_words(owner: httpx.Client, body: dict, field: str,
                                               words: str) -> None:
    response = owner.patch(f"/api/users/{username_of(owner)}", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert words in error["fields"][field], error


def test_nobody_else_edits_your_profile(owner: httpx.Client, other: httpx.Client,
                                        api: httpx.Client) -> None:
    name = username_of(owner)
    assert other.get(f"/api/users/{name}").json()["can"] == ["follow"]  # never "edit"
    for response in (other.patch(f"/api/users/{name}", json={"display_name": "Impostor"}),
                     other.put(f"/api/users/{name}/avatar", content=portrait_png(),
                               headers=PNG_TYPE),
                     other.delete(f"/api/users/{name}/avatar")):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "not_allowed"
        assert "your own profile" in response.json()["detail"]
    for response in (api.patch(f"/api/users/{name}", json={"display_name": "Anonymous"}),
                     api.put(f"/api/users/{name}/avatar", content=portrait_png(),
                             headers=PNG_TYPE)):
        assert response.status_code == 401, response.text
    assert owner.patch("/api/users/nobody_at_all_here", json={"bio": "x"}).status_code == 404
    profile = api.get(f"/api/users/{name}").json()
    assert profile["display_name"] == name and profile["has_avatar"] is False


def test_an_uploaded_avatar_is_cropped_resized_and_served_for_good(
        owner: httpx.Client, api: httpx.Client) -> None:
    name = username_of(owner)
    uploaded = owner.put(f"/api/users/{name}/avatar", content=portrait_png(), headers=PNG_TYPE)
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert body["has_avatar"] is True
    large_url, small_url = body["avatar_url"], body["avatar_small_url"]
    assert large_url.endswith(f"/{limits.AVATAR_SIZE}.webp")
    assert small_url.endswith(f"/{limits.AVATAR_SMALL_SIZE}.webp")
    assert api.get(f"/api/users/{name}").json()["avatar_url"] == large_url
    me = owner.get("/api/me").json()  # you, as others see you: at once on this node
    assert (me["avatar_url"], me["avatar_small_url"]) == (large_url, small_url)

    for url, size in ((large_url, limits.AVATAR_SIZE), (small_url, limits.AVATAR_SMALL_SIZE)):
        served = api.get(url)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "image/webp"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        image = decoded(served)
        assert (image.format, image.size) == ("WEBP", (size, size))
        # The centred square of the 300x500 portrait: red left, blue right, green middle.
        rgb = image.convert("RGB")
        red, green, blue = (rgb.getpixel((size // 6, size // 10)),
                            rgb.getpixel((size // 2, size // 2)),
                            rgb.getpixel((size - size // 6, size // 10)))
        assert red[0] > 150 and red[2] < 100, red
        assert blue[2] > 150 and blue[0] < 100, blue
        assert green[1] > 150 and green[0] < 100, green
        assert api.get(url, headers={"If-None-Match": served.headers["etag"]}).status_code == 304

    # A new upload is a new URL; the old one now leads to the current face.
    square = encoded(Image.new("RGBA", (80, 80), (250, 200, 0, 255)), "GIF")
    replaced = owner.put(f"/api/users/{name}/avatar", content=square,
                         headers={"Content-Type": "image/gif"}).json()
    assert replaced["avatar_url"] != large_url
    old = api.get(large_url)
    assert old.status_code == 307 and old.headers["location"] == replaced["avatar_url"]
    assert old.headers["cache-control"] == "no-cache"
    assert decoded(api.get(replaced["avatar_url"])).size == (limits.AVATAR_SIZE,) * 2

    # Removed: back to the placeholder, and old URLs lead there.
    removed = owner.delete(f"/api/users/{name}/avatar").json()
    assert removed["has_avatar"] is False and removed["avatar_url"].endswith(".svg")
    gone = api.get(replaced["avatar_small_url"])
    assert gone.status_code == 307 and gone.headers["location"] == removed["avatar_small_url"]


@pytest.mark.parametrize(("what", "content", "status", "words"), [
    ("a text file", b"name,bio\nada,counts\n", 400, "not an image"),
    ("an empty file", b"", 400, "empty"),
    ("a truncated PNG", encoded(Image.effect_noise((400, 400), 60).convert("RGB"))[:3000], 400,
     "damaged or incomplete"),
    ("a BMP (a format not taken)", encoded(Image.new("RGB", (40, 40)), "BMP"), 400,
     "PNG, JPEG, WebP or GIF"),
    ("huge dimensions in a tiny file", png_header_only(6_000, 5_000), 400,
     "6000×5000 pixels"),
    ("dimensions Pillow only warns about", png_header_only(10_000, 10_000), 400,
     "10000×10000 pixels"),
    ("dimensions past Pillow's own bomb limit", png_header_only(100_000, 100_000), 400,
     f"at most {limits.MAX_AVATAR_PIXELS // 1_000_000} megapixels"),
])
def test_a_bad_file_is_refused_with_a_code_and_a_sentence(
        owner: httpx.Client, what: str, content: bytes, status: int, words: str) -> None:
    name = username_of(owner)
    response = owner.put(f"/api/users/{name}/avatar", content=content, headers=PNG_TYPE)
    assert response.status_code == status, (what, response.text)
    error = response.json()
    assert error["code"] == "invalid_image", error
    assert words in error["detail"], error
    assert error["fields"] == {"avatar": error["detail"]}  # shown next to the file input
    assert owner.get(f"/api/users/{name}").json()["has_avatar"] is False


def test_an_oversize_upload_is_refused_before_it_is_read(server: Server,
                                                         owner: httpx.Client) -> None:
    name = username_of(owner)
    too_big = b"\x89PNG" + b"\x00" * limits.MAX_AVATAR_BYTES
    response = owner.put(f"/api/users/{name}/avatar", content=too_big, headers=PNG_TYPE)
    assert response.status_code == 413, response.text
    error = response.json()
    assert error["code"] == "payload_too_large"
    assert f"at most {limits.MAX_AVATAR_BYTES / (1024 * 1024):.1f} MB" in error["detail"]
    assert "avatar" in error["fields"]

    # Sent without a Content-Length (chunked): refused once more than the limit came.
    def chunks() -> Iterator[bytes]:
        for _ in range(limits.MAX_AVATAR_BYTES // 65536 + 2):
            yield b"\x00" * 65536

    chunked = owner.put(f"/api/users/{name}/avatar", content=chunks(), headers=PNG_TYPE)
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["code"] == "payload_too_large"
    assert owner.get(f"/api/users/{name}").json()["has_avatar"] is False


def test_animations_and_odd_modes_become_a_still_square(owner: httpx.Client,
                                                        api: httpx.Client) -> None:
    name = username_of(owner)
    frames = [Image.new("P", (120, 90), colour) for colour in (1, 2, 3)]
    cases = {
        "animated GIF": (encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
                         "image/gif"),
        "CMYK JPEG": (encoded(Image.new("CMYK", (200, 120), (0, 200, 200, 0)), "JPEG"),
                      "image/jpeg"),
        "16-bit greyscale PNG": (encoded(Image.new("I;16", (90, 90), 50_000)), "image/png"),
        "transparent palette PNG": (encoded(Image.new("P", (64, 64)), transparency=0),
                                    "image/png"),
    }
    for what, (content, kind) in cases.items():
        response = owner.put(f"/api/users/{name}/avatar", content=content,
                             headers={"Content-Type": kind})
        assert response.status_code == 200, (what, response.text)
        image = decoded(api.get(response.json()["avatar_url"]))
        assert image.size == (limits.AVATAR_SIZE,) * 2, what
        assert getattr(image, "n_frames", 1) == 1, what
        assert image.mode in ("RGB", "RGBA"), what
    # The CMYK red-ish (no cyan, much magenta and yellow) stayed red, not inverted.
    response = owner.put(f"/api/users/{name}/avatar", content=cases["CMYK JPEG"][0],
                         headers={"Content-Type": "image/jpeg"})
    r, g, b = decoded(api.get(response.json()["avatar_url"])).convert("RGB").getpixel((128, 128))
    assert r > 200 and g < 100 and b < 100, (r, g, b)


def test_people_in_a_space_carry_their_names_and_faces(owner: httpx.Client,
                                                       other: httpx.Client,
                                                       api: httpx.Client) -> None:
    host = username_of(owner)
    owner.patch(f"/api/users/{host}", json={"display_name": "Host Person"})
    face = owner.put(f"/api/users/{host}/avatar", content=portrait_png(),
                     headers=PNG_TYPE).json()
    created = owner.post("/api/spaces", json={"title": "Faces"})
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    guest = username_of(other)
    invited = owner.post(f"/api/spaces/{space_id}/speakers", json={"username": guest})
    assert invited.status_code == 200, invited.text
    space = api.get(f"/api/spaces/{space_id}").json()
    assert {k: space["host"][k] for k in ("display_name", "avatar_url", "avatar_small_url")} == {
        "display_name": "Host Person", "avatar_url": face["avatar_url"],
        "avatar_small_url": face["avatar_small_url"]}
    assert space["speakers"][0]["display_name"] == "Host Person"
    assert space["speakers"][0]["avatar_url"] == face["avatar_url"]
    (person,) = space["invited"]
    assert person["display_name"] == guest
    assert person["avatar_url"].startswith("/avatars/") and person["avatar_url"].endswith(".svg")
    assert api.get(person["avatar_url"]).status_code == 200
    owner.post(f"/api/spaces/{space_id}/cancel")


@pytest.mark.parametrize("url", [
    "/avatars/1/0123456789abcdef/100.webp",  # not a size we make
    "/avatars/1/not-a-version/256.webp",
    "/avatars/999999999/0123456789abcdef/256.webp",  # nobody
    "/avatars/1/initials/abc%3Cscript%3E.svg",
    "/avatars/1/initials/TOOLONG.svg",
])
def test_avatar_urls_that_name_nothing_are_404(api: httpx.Client, url: str) -> None:
    response = api.get(url)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
