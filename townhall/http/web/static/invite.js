// Invite landing page: accept the invite (signed in) or sign in first.
import { get, post, showError } from "./api.js";
import { clearProblems, showNear } from "./form-errors.js";
import { currentUser } from "./nav.js";

const box = document.getElementById("invite");
const spaceId = box.dataset.spaceId;
const code = box.dataset.code;
const spacePath = `/s/${encodeURIComponent(spaceId)}`;

get(`/api/spaces/${encodeURIComponent(spaceId)}`)
  .then((space) => {
    document.getElementById("invite-title").textContent = space.title;
    document.getElementById("invite-host").textContent = `Hosted by @${space.host.username}`;
    document.title = `Invite: ${space.title} · Townhall`;
    if (space.state === "ended") showError("This Space has ended.");
  })
  .catch((err) => {
    // A private Space shows nothing of itself to outsiders; the invite still works.
    if (err.status === 401 || err.status === 403) {
      document.getElementById("invite-title").textContent = "A private Space";
    } else showError(err);
  });

currentUser.then((user) => {
  const here = encodeURIComponent(location.pathname);
  document.getElementById("invite-signed-in").hidden = !user;
  document.getElementById("invite-signed-out").hidden = Boolean(user);
  document.getElementById("invite-signin").href = `/signin?next=${here}`;
  document.getElementById("invite-signup").href = `/signup?next=${here}`;
});

// A refusal (the invite was used up, the Space ended) shows under the button.
const acceptBlock = document.getElementById("invite-signed-in");
document.getElementById("accept-button").addEventListener("click", async (event) => {
  event.target.disabled = true;
  clearProblems({}, acceptBlock);
  try {
    await post(`/api/spaces/${encodeURIComponent(spaceId)}/invites/${encodeURIComponent(code)}/accept`);
    location.href = spacePath;
  } catch (err) {
    showNear(acceptBlock, err);
    event.target.disabled = false;
  }
});
