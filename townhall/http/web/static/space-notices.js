// Messages to the person: news from live events (approved, declined, muted by a host)
// and the card shown when we may no longer view the Space. Acts on the server's event
// types and error codes, never on its English text (errors: api.js showProblem).
import { state, you } from "./space-state.js";

// Our own "Cancel request" shows up as HandLowered too: not a decline.
const SELF_LOWER_GRACE_MS = 5000;
let selfLoweredAt = 0;

// Codes that mean "you may not view this Space (any more)": the removed card says why.
const DENIALS = {
  removed: ["You were removed from this Space", "You can no longer listen to or join this Space."],
  blocked: ["The host has blocked you", "You can no longer listen to or join this Space."],
  private: [
    "This Space is private",
    "Only people the host invited can listen. Ask the host to add you to the guest list, then reload this page.",
  ],
  sign_in_required: ["This Space is private", "If you were invited, sign in with that account."],
};

/** Is this refusal about seeing the Space at all (not just the one action)? */
export const isDenial = (err) => Boolean(err && Object.hasOwn(DENIALS, err.code));

/** [heading, hint] for the removed card. */
export const denialText = (code) => DENIALS[code] ?? DENIALS.removed;

/** Live room events about us become notices; returns a denial code if we were removed. */
export function noticeEvents(events) {
  const myId = you().id;
  if (myId == null) return null;
  const notices = state.notices;
  for (const event of events) {
    if (event.user_id !== myId) continue;
    switch (event.type) {
      case "Removed":
        return event.blocked ? "blocked" : "removed";
      case "RoleChanged":
        if (event.role === "speaker") {
          notices.audience = "";
          // A co-host made a plain speaker again needs no invitation to the stage.
          notices.stage = you().role === "cohost" ? "" : "You're a speaker now — join the stage when you're ready.";
        } else if (event.role === "cohost") notices.stage = "You're a co-host now: you can help moderate.";
        else if (event.role === "listener") notices.audience = "You're back in the audience.";
        break;
      case "SpeakerInvited":
        notices.audience = "The host invited you to speak.";
        break;
      case "HandLowered":
        if (event.approved) notices.audience = "";
        else if (Date.now() - selfLoweredAt > SELF_LOWER_GRACE_MS) {
          notices.audience = "The host declined your request to speak.";
        }
        break;
      case "MuteChanged":
        if (event.by !== myId) notices.stage = event.muted ? "A host muted you. You can unmute yourself." : "";
        break;
      default:
        break;
    }
  }
  return null;
}

/** We lower our own hand: the HandLowered that follows is not the host declining. */
export function loweringOwnHand() {
  selfLoweredAt = Date.now();
  state.notices.audience = "";
}
