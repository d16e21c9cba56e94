// Profile: who this is (face, name, bio) and their Spaces — live now, upcoming (with
// "Remind me"), replays. Its owner gets a form to edit name, bio and photo: the server
// says who may (`can: ["edit"]`), this page does not decide it. Anyone else signed in
// gets Follow / Unfollow when the server offers it (`can: ["follow"]` / `["unfollow"]`).
import { api, get, showError } from "./api.js";
import { fillList, remindButton, spaceItem } from "./cards.js";
import { clearProblems, showProblem } from "./form-errors.js";
import { plural } from "./format.js";
import { currentUser } from "./nav.js";

const $ = (id) => document.getElementById(id);
const username = $("profile").dataset.username;
const path = `/api/users/${encodeURIComponent(username)}`;
let user = null;
let editing = false;

function section(name, spaces, item) {
  $(`profile-${name}-card`).hidden = !spaces.length;
  fillList($(`profile-${name}`), spaces.map(item), "");
}

/** The head of the page: face, name, @username, bio (from a profile or an edit's answer). */
function showPerson(person) {
  const avatar = $("profile-avatar");
  avatar.src = person.avatar_url;
  avatar.hidden = false;
  $("profile-name").textContent = person.display_name;
  const handle = $("profile-handle");
  handle.textContent = `@${person.username}`;
  handle.hidden = !person.has_display_name; // otherwise the name is the username already
  const bio = $("profile-bio");
  bio.textContent = person.bio;
  bio.hidden = !person.bio;
  document.title = `${person.display_name} (@${person.username}) · Townhall`;
  $("avatar-remove").hidden = !person.has_avatar;
}

function startEditing(person) {
  $("profile-edit-card").hidden = false;
  if (editing) return;
  editing = true;
  $("profile-display-name").value = person.has_display_name ? person.display_name : "";
  $("profile-bio-input").value = person.bio;
  $("profile-form").addEventListener("submit", save);
  $("avatar-file").addEventListener("change", upload);
  $("avatar-form").addEventListener("submit", (event) => {
    event.preventDefault();
    upload();
  });
  $("avatar-remove").addEventListener("click", removeAvatar);
}

async function save(event) {
  event.preventDefault();
  const form = $("profile-form");
  const button = $("profile-save");
  clearProblems(form);
  $("profile-saved").textContent = "";
  button.disabled = true;
  try {
    const person = await api("PATCH", path, {
      display_name: $("profile-display-name").value,
      bio: $("profile-bio-input").value,
    });
    showPerson(person);
    $("profile-display-name").value = person.has_display_name ? person.display_name : "";
    $("profile-bio-input").value = person.bio;
    $("profile-saved").textContent = "Saved.";
  } catch (err) {
    showProblem(err, form);
  } finally {
    button.disabled = false;
  }
}

async function upload() {
  const input = $("avatar-file");
  const file = input.files && input.files[0];
  const form = $("avatar-form");
  const status = $("avatar-status");
  clearProblems({ avatar: input }, form);
  if (!file) return;
  status.textContent = "Uploading…";
  input.disabled = true;
  try {
    // The file itself is the body (its type is the Content-Type); the server decodes it.
    showPerson(await api("PUT", `${path}/avatar`, file));
    status.textContent = "Photo updated.";
    input.value = "";
  } catch (err) {
    status.textContent = "";
    showProblem(err, { avatar: input }, form);
  } finally {
    input.disabled = false;
  }
}

async function removeAvatar() {
  const form = $("avatar-form");
  const status = $("avatar-status");
  clearProblems({ avatar: $("avatar-file") }, form);
  try {
    showPerson(await api("DELETE", `${path}/avatar`));
    status.textContent = "Photo removed.";
  } catch (err) {
    showProblem(err, {}, $("avatar-remove"));
  }
}

/** Followers and following, and the button the server offers this viewer (if any). */
function showFollows(answer) {
  $("follow-counts").textContent =
    `${plural(answer.followers, "follower")} · ${answer.following} following`;
  const button = $("follow-button");
  const action = ["follow", "unfollow"].find((a) => answer.can.includes(a));
  button.hidden = !action;
  if (!action) return;
  button.textContent = action === "follow" ? "Follow" : "Unfollow";
  button.className = action === "follow" ? "" : "secondary";
  button.dataset.action = action;
}

async function toggleFollow() {
  const button = $("follow-button");
  button.disabled = true;
  try {
    const method = button.dataset.action === "follow" ? "POST" : "DELETE";
    showFollows(await api(method, `${path}/follow`));
  } catch (err) {
    showProblem(err, {}, button);
  } finally {
    button.disabled = false;
  }
}

async function load() {
  try {
    const profile = await get(path);
    showPerson(profile);
    showFollows(profile);
    if (profile.can.includes("edit")) startEditing(profile);
    const by = (state) => profile.spaces.filter((s) => s.state === state);
    const live = by("live");
    const upcoming = by("scheduled");
    const replays = by("ended");
    section("live", live, (s) => spaceItem(s, { showHost: false }));
    section("upcoming", upcoming, (s) =>
      spaceItem(s, { showHost: false, extra: [remindButton(s, user, load)] }),
    );
    section("replays", replays, (s) => spaceItem(s, { showHost: false }));
    $("profile-summary").textContent = profile.spaces.length
      ? `${plural(profile.spaces.length, "Space")} hosted${live.length ? " · live now" : ""}`
      : "No Spaces yet.";
  } catch (err) {
    $("profile-summary").textContent = err.status === 404 ? "There is no user with that name." : "";
    showError(err.status === 404 ? null : err);
  }
}

$("follow-button").addEventListener("click", toggleFollow);

currentUser.then((u) => {
  user = u;
  load();
});
