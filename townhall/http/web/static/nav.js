// Header: who is signed in (face and name, linking to their profile), with sign in /
// sign up / sign out links, and for the signed-in the notifications bell (bell.js).
import { el, me, post, showError } from "./api.js";
import { bell } from "./bell.js";

const nav = document.getElementById("account");

export const currentUser = me().catch((err) => {
  showError(err);
  return null;
});

currentUser.then((user) => {
  nav.replaceChildren();
  const here = encodeURIComponent(location.pathname + location.search);
  if (user) {
    const out = el("button", { type: "button", class: "link-button", id: "signout-button" }, "Sign out");
    out.addEventListener("click", async () => {
      try {
        await post("/api/auth/signout");
        location.href = "/";
      } catch (err) {
        showError(err);
      }
    });
    // You, with your face: a link to your profile (where you edit it).
    const face = el("img", { class: "who-face", src: user.avatar_small_url, alt: "", width: 28, height: 28 });
    const who = el("a", { class: "who", id: "signed-in-as", href: `/u/${encodeURIComponent(user.username)}` },
      face, `@${user.username}`);
    // Settings (notifications, email, Discover): a gear, so the header keeps one row.
    const gear = el("a", { class: "settings-link", id: "settings-link", href: "/settings", "aria-label": "Settings", title: "Settings" });
    gear.innerHTML = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><circle cx="12" cy="12" r="3.2" fill="none" stroke="currentColor" stroke-width="2"/><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>';
    nav.append(bell(), gear, who, out);
  } else if (!["/signin", "/signup"].includes(location.pathname)) {
    nav.append(
      el("a", { href: `/signin?next=${here}`, id: "signin-link" }, "Sign in"),
      el("a", { href: `/signup?next=${here}`, class: "button small", id: "signup-link" }, "Sign up"),
    );
  }
});
