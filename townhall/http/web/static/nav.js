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
    nav.append(bell(), who, out);
  } else if (!["/signin", "/signup"].includes(location.pathname)) {
    nav.append(
      el("a", { href: `/signin?next=${here}`, id: "signin-link" }, "Sign in"),
      el("a", { href: `/signup?next=${here}`, class: "button small", id: "signup-link" }, "Sign up"),
    );
  }
});
