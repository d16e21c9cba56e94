"""A profile in a real browser: a person signs up, opens their profile, sets a display
name and a bio, uploads a photo (the page shows the server's 256 px square of it), then
picks a file that is not an image and reads why next to the file field. A visitor on a
phone sees the name, bio and face, and no edit form. Screenshots at 1280x900 and
390x844 go to test-artifacts/; axe-core finds nothing serious on either page."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from townhall import limits
from townhall.testing.browser import axe_violations, describe_violations
from tests.system.test_browser import browser, new_page, screenshot, unique_name, wait_js  # noqa: F401

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_MS = 15_000
# The face shown: an image that finished loading, at its natural size.
IMAGE_LOADED = "([id, width]) => { const i = document.getElementById(id);" \
               " return i && !i.hidden && i.complete && i.naturalWidth === width; }"


def photo(path: Path) -> Path:
    """A 640x480 "photo": orange with a dark square in the middle (what the crop keeps)."""
    image = Image.new("RGB", (640, 480), (245, 140, 30))
    image.paste((30, 30, 60), (220, 140, 420, 340))
    image.save(path, "JPEG", quality=90)
    return path


def test_a_person_edits_their_profile_and_uploads_a_photo(server, browser, tmp_path) -> None:  # noqa: F811
    base = server.base_url.rstrip("/")
    username = unique_name("face")

    page = new_page(browser, "owner", viewport=DESKTOP)
    page.goto(f"{base}/signup")
    page.fill("#username", username)
    page.fill("#password", "correct horse battery")
    page.click("#auth-submit")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/u/{username}")
    page.wait_for_selector("#profile-edit-card:not([hidden])", timeout=UI_MS)
    # Before any upload: a placeholder face (initials), loaded and shown.
    wait_js(page, "() => { const i = document.getElementById('profile-avatar');"
                  " return !i.hidden && i.complete && i.naturalWidth > 0; }", UI_MS,
            what="the placeholder avatar")
    assert page.get_attribute("#profile-avatar", "src").endswith(".svg")
    screenshot(page, "profile-new-desktop.png")

    # Name and bio, saved and shown, and still there after a reload.
    page.fill("#profile-display-name", "Grace Hopper")
    page.fill("#profile-bio-input", "Compilers, nanoseconds\nand the odd moth.")
    page.click("#profile-save")
    page.wait_for_selector("#profile-saved:has-text('Saved.')", timeout=UI_MS)
    assert page.text_content("#profile-name") == "Grace Hopper"
    assert page.text_content("#profile-handle") == f"@{username}"
    page.reload()
    page.wait_for_selector("#profile-edit-card:not([hidden])", timeout=UI_MS)
    assert page.text_content("#profile-name") == "Grace Hopper"
    assert page.text_content("#profile-bio") == "Compilers, nanoseconds\nand the odd moth."
    assert page.input_value("#profile-display-name") == "Grace Hopper"
    assert page.get_attribute("#profile-avatar", "src").endswith("/GH.svg")

    # A photo: uploaded on picking it, then shown as the server's square.
    page.set_input_files("#avatar-file", str(photo(tmp_path / "me.jpg")))
    page.wait_for_selector("#avatar-status:has-text('Photo updated.')", timeout=UI_MS)
    wait_js(page, IMAGE_LOADED, UI_MS, arg=["profile-avatar", limits.AVATAR_SIZE],
            what="the uploaded avatar in the page")
    src = page.evaluate("() => document.getElementById('profile-avatar').src")
    assert src.endswith(f"/{limits.AVATAR_SIZE}.webp"), src
    served = Image.open(io.BytesIO(httpx.get(src, timeout=15).content))
    assert (served.format, served.size) == ("WEBP", (limits.AVATAR_SIZE,) * 2)
    # The dark middle of the photo is the middle of the face; its orange sides are cut.
    middle = served.convert("RGB").getpixel((limits.AVATAR_SIZE // 2,) * 2)
    assert max(middle) < 90, middle
    assert page.is_visible("#avatar-remove")
    # Reloaded: the header shows the new face too (small), linking to the profile.
    page.reload()
    wait_js(page, "size => { const i = document.querySelector('#signed-in-as img');"
                  " return i && i.complete && i.naturalWidth === size; }", UI_MS,
            arg=limits.AVATAR_SMALL_SIZE, what="the small avatar in the header")
    assert page.get_attribute("#signed-in-as", "href") == f"/u/{username}"
    wait_js(page, IMAGE_LOADED, UI_MS, arg=["profile-avatar", limits.AVATAR_SIZE],
            what="the avatar after a reload")
    screenshot(page, "profile-owner-desktop.png")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    # Not an image (whatever its name says): the reason, right under the file field.
    fake = tmp_path / "holiday.png"
    fake.write_text("these are my notes, not a picture\n")
    page.set_input_files("#avatar-file", str(fake))
    error = page.wait_for_selector("#avatar-file-error", timeout=UI_MS)
    assert "not an image" in error.text_content()
    assert page.evaluate("() => document.getElementById('avatar-file').nextElementSibling.id"
                         ) == "avatar-file-error"
    assert page.get_attribute("#avatar-file", "aria-invalid") == "true"
    assert page.is_hidden("#error")  # not in the banner at the top
    # The face is still the photo.
    assert page.evaluate("() => document.getElementById('profile-avatar').src") == src
    screenshot(page, "profile-owner-bad-file-desktop.png")

    page.set_viewport_size(PHONE)
    screenshot(page, "profile-owner-phone.png")

    # A visitor on a phone: name, bio, face; no form.
    visitor = new_page(browser, "visitor", viewport=PHONE, device_scale_factor=2,
                       is_mobile=True, has_touch=True)
    visitor.goto(f"{base}/u/{username}")
    visitor.wait_for_selector("#profile-summary:not(:has-text('Loading'))", timeout=UI_MS)
    assert visitor.text_content("#profile-name") == "Grace Hopper"
    assert visitor.text_content("#profile-bio") == "Compilers, nanoseconds\nand the odd moth."
    wait_js(visitor, IMAGE_LOADED, UI_MS, arg=["profile-avatar", limits.AVATAR_SIZE],
            what="the avatar on the visitor's page")
    assert visitor.is_hidden("#profile-edit-card")
    screenshot(visitor, "profile-visitor-phone.png")
    violations = axe_violations(visitor)
    assert not violations, describe_violations(violations)
