// Buttons -> API calls. One request at a time; every action's answer is the Space as
// it is now (made for us), so the page redraws from it. Refusals are the server's:
// a denial shows the removed card, a stale button (the Space moved on) gets the
// banner and a fresh Space, a bad field its message next to it.
import { clearProblems, del, get, localUrl, post, put, showProblem } from "./api.js";
import { isDenial, loweringOwnHand } from "./space-notices.js";
import { closeSheet, findPerson, refreshRoster } from "./space-people.js";
import { state, you } from "./space-state.js";
import { apiBase, ui } from "./space-ui.js";

// The buttons we drew no longer match the Space: fetch it again.
const STALE = new Set(["not_allowed", "illegal_transition", "conflict"]);

/**
 * @param {{publisher, apply: (space) => void, refresh: () => Promise<boolean>,
 *          deny: (code: string) => void, render: () => void, syncMute: () => void}} page
 */
export function bindActions(page) {
  const { publisher, apply } = page;
  const notices = state.notices;

  /** Run an action: one at a time, refusals shown (next to `inputs` when they name one). */
  async function run(fn, inputs = {}, near = null) {
    if (state.busy) return;
    state.busy = true;
    clearProblems(inputs, near);
    page.render();
    try {
      await fn();
    } catch (err) {
      // Sign-in trouble on one action is not a ban: only view refusals end the page.
      if (isDenial(err) && err.code !== "sign_in_required") page.deny(err.code);
      else {
        showProblem(err, inputs, near); // under the input, or next to the button used
        if (STALE.has(err.code)) page.refresh();
      }
    } finally {
      state.busy = false;
      page.render();
    }
  }
  const onClick = (button, fn) => button.addEventListener("click", () => run(fn, {}, button));

  const joinStage = async () => {
    notices.stage = "";
    await publisher.join({ originalSound: ui.originalSound.checked, space: state.space });
    page.syncMute(); // a host may have muted us before we joined
    await page.refresh();
  };

  onClick(ui.goLive, async () => {
    apply(await post(`${apiBase}/live`));
    await joinStage();
  });
  onClick(ui.joinStage, joinStage);
  onClick(ui.mute, async () => {
    const muted = !publisher.muted;
    publisher.setMuted(muted); // at once, locally; the server mutes us in the mixer too
    state.muteInFlight = true;
    try {
      notices.stage = "";
      apply(await post(`${apiBase}/${muted ? "mute" : "unmute"}`, { user_id: you().id }));
    } catch (err) {
      publisher.setMuted(!muted);
      throw err;
    } finally {
      state.muteInFlight = false;
      page.syncMute();
    }
  });
  onClick(ui.leaveStage, async () => {
    await publisher.leave();
    await page.refresh();
  });
  onClick(ui.stepDown, async () => {
    if (publisher.onStage) await publisher.leave();
    apply(await post(`${apiBase}/step-down`));
  });
  onClick(ui.raiseHand, async () => {
    notices.audience = "";
    apply(await post(`${apiBase}/hand`));
  });
  onClick(ui.lowerHand, async () => {
    loweringOwnHand();
    apply(await del(`${apiBase}/hand`));
  });
  onClick(ui.acceptInvitation, async () => {
    notices.audience = "";
    apply(await post(`${apiBase}/invitation/accept`));
  });
  onClick(ui.remind, async () => {
    await (state.reminded ? del(`${apiBase}/reminder`) : post(`${apiBase}/reminder`));
    state.reminded = !state.reminded;
  });
  onClick(ui.end, async () => {
    if (!window.confirm("End this Space for everyone? Listeners will get the replay.")) return;
    await publisher.leave();
    apply(await post(`${apiBase}/end`));
  });
  onClick(ui.cancel, async () => {
    if (!window.confirm("Cancel this Space? Everyone waiting will see it was cancelled.")) return;
    apply(await post(`${apiBase}/cancel`));
  });
  onClick(ui.muteAll, async () => {
    apply(await post(`${apiBase}/mute-all`));
    notices.host = "Muted every speaker.";
  });
  onClick(ui.invite, async () => {
    const invite = await post(`${apiBase}/invites`);
    ui.inviteUrl.value = localUrl(invite.invite_url, state.space);
    ui.inviteBox.hidden = false;
    ui.inviteUrl.select();
  });
  ui.copyInvite.addEventListener("click", async () => {
    ui.inviteUrl.select();
    try {
      await navigator.clipboard.writeText(ui.inviteUrl.value);
    } catch (_) {
      document.execCommand("copy"); // clipboard API needs a secure context
    }
    ui.copyInvite.textContent = "Copied";
    setTimeout(() => (ui.copyInvite.textContent = "Copy"), 2000);
  });

  /** Moderation on one person, by user id. Returns a message for the host panel. */
  async function moderate(act, userId, name) {
    const target = { user_id: userId };
    switch (act) {
      case "invite":
        apply(await post(`${apiBase}/speakers`, { username: name }));
        return `Invited @${name} to speak.`;
      case "approve":
        apply(await post(`${apiBase}/hands/${userId}/approve`));
        return `Approved @${name}: they can join the stage now.`;
      case "decline":
        apply(await post(`${apiBase}/hands/${userId}/decline`));
        return `Declined @${name}'s request.`;
      case "mute":
        apply(await post(`${apiBase}/mute`, target));
        return `Muted @${name}.`;
      case "cohost":
        apply(await post(`${apiBase}/cohosts`, target));
        return `@${name} is a co-host now.`;
      case "uncohost":
        apply(await del(`${apiBase}/cohosts/${userId}`));
        return `@${name} is no longer a co-host.`;
      case "remove":
        if (!window.confirm(`Remove @${name} from this Space? They cannot come back.`)) return "";
        apply(await post(`${apiBase}/remove`, target));
        return `Removed @${name}.`;
      case "unlisten":
        apply(await del(`${apiBase}/listeners/${encodeURIComponent(name)}`));
        return `@${name} is off the guest list.`;
      case "block":
        if (!window.confirm(`Block @${name}? They are removed and cannot join any of your Spaces.`)) return "";
        apply(await post(`${apiBase}/block`, target));
        return `Blocked @${name}.`;
      default:
        throw new Error(`unknown action ${act}`);
    }
  }

  const usernameOf = (id) => findPerson(id)?.username || `user ${id}`;
  // Buttons on people: in the host panel's lists, and in the sheet a face opens. A
  // refusal shows under them (the lists and the sheet are redrawn meanwhile).
  for (const list of [ui.handQueue, ui.invitedList, ui.guestsList, ui.sheetActions]) {
    const near = list === ui.sheetActions ? ui.sheetStatus : list.closest(".panel-block");
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-act]");
      if (!button) return;
      const userId = Number(button.dataset.userId);
      run(async () => {
        const done = await moderate(button.dataset.act, userId, usernameOf(userId));
        if (!done) return; // not confirmed
        notices.host = done;
        if (list === ui.sheetActions) closeSheet();
        refreshRoster({ now: true });
      }, {}, near);
    });
  }

  const usernameInput = { username: ui.personUsername, user_id: ui.personUsername };
  async function personAction(act) {
    const username = ui.personUsername.value.trim().replace(/^@/, "");
    if (!username) {
      ui.personUsername.reportValidity();
      return;
    }
    await run(async () => {
      if (act === "invite") {
        apply(await post(`${apiBase}/speakers`, { username }));
        notices.host = `Invited @${username} to speak.`;
      } else if (act === "listen") {
        apply(await post(`${apiBase}/listeners/${encodeURIComponent(username)}`));
        notices.host = `@${username} may listen now.`;
      } else {
        const user = await get(`/api/users/${encodeURIComponent(username)}`);
        notices.host = await moderate(act, user.id, user.username);
      }
      if (notices.host) ui.personUsername.value = "";
    }, usernameInput);
  }
  ui.personForm.addEventListener("submit", (event) => {
    event.preventDefault();
    personAction("invite");
  });
  for (const button of ui.personForm.querySelectorAll("button[type=button][data-person]")) {
    button.addEventListener("click", () => personAction(button.dataset.person));
  }

  ui.pinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(async () => {
      apply(await put(`${apiBase}/pinned`, { url: ui.pinUrl.value.trim() }));
      ui.pinUrl.value = "";
      notices.host = "Pinned the link for everyone.";
    }, { url: ui.pinUrl });
  });
  onClick(ui.unpin, async () => {
    apply(await del(`${apiBase}/pinned`));
    notices.host = "Unpinned the link.";
  });
}
