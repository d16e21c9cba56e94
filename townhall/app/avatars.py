"""Avatars: every person has a face.

An upload is checked by decoding it with Pillow (never by its name or Content-Type):
only PNG, JPEG, WebP and GIF are opened (no decoder that shells out, e.g. EPS), its
size in pixels is read from the header and refused above MAX_AVATAR_PIXELS before
anything is decoded (a decompression bomb costs nothing), a truncated or corrupt file
is refused, an animation keeps its first frame, the camera's orientation is applied,
any mode (palette, CMYK, 16-bit, greyscale with alpha) becomes RGB or RGBA. Then it is
cropped to a centred square and stored as two WebP images (AVATAR_SIZE and
AVATAR_SMALL_SIZE). Re-encoding drops all metadata (a photo's EXIF location with it).
Blocking and CPU-bound: call `process` in the IMAGES thread pool.

Someone without an upload gets a placeholder: their initials on a colour derived from
their id, an SVG made from its URL alone (no database).

URLs name a version (the image's hash; for a placeholder, its initials), so each one
means one image for good and is served as immutable.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from PIL import Image, ImageOps

from townhall import limits
from townhall.domain.errors import INVALID_IMAGE, BadRequest, PayloadTooLarge

# What Pillow may open: the formats people upload from a phone or a browser.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# WebP at this quality: a 256 px face is ~10-20 KB, the 64 px one ~2-3 KB.
WEBP_QUALITY = 85
SIZES = (limits.AVATAR_SIZE, limits.AVATAR_SMALL_SIZE)
# Placeholder colours: each has a contrast of at least 4.5:1 with white initials
# (WCAG AA), and they are told apart at a glance.
PALETTE = ("#b42318", "#b54708", "#8a5300", "#3b7d23", "#067647", "#0e7090", "#175cd3",
           "#3538cd", "#6938ef", "#9e165f", "#c11574", "#475467")
# Initials in a placeholder: one or two letters or digits.
MAX_INITIALS = 2


@dataclass(frozen=True)
class Processed:
    version: str
    large: bytes  # AVATAR_SIZE square, WebP
    small: bytes  # AVATAR_SMALL_SIZE square, WebP


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB"


def too_large(size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"That file is {_megabytes(size)}: an avatar can be at most "
        f"{_megabytes(limits.MAX_AVATAR_BYTES)}. Pick a smaller image.", field="avatar")


def invalid(message: str) -> BadRequest:
    return BadRequest(message, code=INVALID_IMAGE, field="avatar")


TOO_MANY_PIXELS = (f"An avatar can have at most {limits.MAX_AVATAR_PIXELS // 1_000_000} "
                   "megapixels: pick a smaller image.")
NOT_AN_IMAGE = ("That file is not an image Townhall can read: upload a PNG, JPEG, WebP "
                "or GIF.")


def _decode(data: bytes) -> Image.Image:
    """The upload as an RGB or RGBA image, upright; or a clear refusal."""
    if not data:
        raise invalid("The file is empty: choose an image to upload.")
    if len(data) > limits.MAX_AVATAR_BYTES:
        raise too_large(len(data))
    with warnings.catch_warnings():
        # Pillow's own bomb check (at 2x its MAX_IMAGE_PIXELS it refuses to open; below
        # that it warns): ours, right after, is lower and says the image's size.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError:
            raise invalid(TOO_MANY_PIXELS) from None
        except Exception:  # UnidentifiedImageError, or a header a decoder chokes on
            raise invalid(NOT_AN_IMAGE) from None
        width, height = image.size
        if width < 1 or height < 1:
            raise invalid(NOT_AN_IMAGE)
        if width * height > limits.MAX_AVATAR_PIXELS:
            raise invalid(f"That image is {width}×{height} pixels. {TOO_MANY_PIXELS}")
        try:
            image.seek(0)  # an animation: its first frame
            # A big JPEG decodes at 1/2, 1/4 or 1/8 scale straight away (still larger
            # than the avatar): far less memory and time than the whole photo.
            target = 2 * limits.AVATAR_SIZE
            image.draft("RGB", (target, target))
            image.load()
            image = ImageOps.exif_transpose(image)
            return _normalised(image)
        except Exception:  # truncated data, a corrupt stream, a bomb Pillow caught itself
            raise invalid("That image file is damaged or incomplete: it could not be read "
                          "to the end. Try another file, or save it again.") from None


def _normalised(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has any transparency."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow converts 16/32-bit greyscale to RGB by clipping at 255: scale it first.
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("RGBA" if has_alpha else "RGB")


def _square(image: Image.Image, size: int) -> Image.Image:
    """A centred square crop, resized to `size` (never enlarged beyond what it is: a
    tiny image is scaled up, which looks soft but is still the person's choice)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.resize((size, size), Image.Resampling.LANCZOS,
                        box=(left, top, left + side, top + side), reducing_gap=3.0)


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def process(data: bytes) -> Processed:
    """Check an uploaded file and make the stored avatar from it (blocking: a thread)."""
    image = _decode(data)
    large = _square(image, limits.AVATAR_SIZE)
    small = _square(large, limits.AVATAR_SMALL_SIZE)
    large_bytes, small_bytes = _webp(large), _webp(small)
    version = hashlib.sha256(large_bytes).hexdigest()[:16]
    return Processed(version=version, large=large_bytes, small=small_bytes)


# --- placeholders and URLs -------------------------------------------------------------

def initials(display_name: str, username: str) -> str:
    """"Ada Lovelace" -> "AL", "ada" -> "A", "2024" -> "2"; from the username when the
    display name has no letters or digits (emoji only, say)."""
    for name in (display_name, username):
        words = name.replace("_", " ").replace("-", " ").replace(".", " ").split()
        # Words' first letters ("ada_99" -> "A"); digits only when there is no letter.
        letters = [c for w in words if (c := next((c for c in w if c.isalpha()), ""))]
        letters = letters or [c for c in name if c.isalnum()][:1]
        if letters:
            picked = letters[0] + (letters[-1] if len(letters) > 1 else "")
            return unicodedata.normalize("NFC", picked.upper())[:MAX_INITIALS * 2]
    return "?"


def valid_initials(text: str) -> bool:
    """What a placeholder URL may carry: one or two letters or digits, as `initials`
    makes them (or "?")."""
    if text == "?":
        return True
    return 1 <= len(text) <= MAX_INITIALS * 2 and all(c.isalnum() for c in text) and (
        text == text.upper())


def colour(user_id: int) -> str:
    digest = hashlib.sha256(f"townhall-avatar:{user_id}".encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def placeholder_svg(user_id: int, text: str) -> bytes:
    """A round face: `text` in white on the user's colour (the page crops it round
    anyway; the square is filled so it works in any shape)."""
    size = len(text)
    font = 46 if size <= 1 else 40 if size == 2 else 30
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" width="256" '
        'height="256" role="img">'
        f'<rect width="100" height="100" fill="{colour(user_id)}"/>'
        f'<text x="50" y="50" dy="0.35em" text-anchor="middle" fill="#ffffff" '
        'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, Helvetica, Arial, '
        f'sans-serif" font-size="{font}" font-weight="600">{escape(text)}</text></svg>'
    )
    return svg.encode()


def urls(user_id: int, avatar_version: str | None, display_name: str,
         username: str) -> tuple[str, str]:
    """(avatar_url, avatar_small_url): paths on this server, for any page or client."""
    if avatar_version:
        base = f"/avatars/{user_id}/{avatar_version}"
        return f"{base}/{limits.AVATAR_SIZE}.webp", f"{base}/{limits.AVATAR_SMALL_SIZE}.webp"
    url = placeholder_url(user_id, initials(display_name, username))
    return url, url


def placeholder_url(user_id: int, text: str) -> str:
    return f"/avatars/{user_id}/initials/{quote(text, safe='')}.svg"
