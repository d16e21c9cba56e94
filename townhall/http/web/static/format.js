// Small display helpers shared by pages.

export const STATE_LABELS = { scheduled: "Scheduled", live: "Live", ended: "Replay", cancelled: "Cancelled" };

/** A Date from an API timestamp (UTC; naive timestamps are UTC too), or null. */
export function toDate(iso) {
  if (!iso) return null;
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function when(iso) {
  const date = toDate(iso);
  if (!date) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "in 5 min", "in 3 h", "in 2 days" (or "any moment now" once the time has passed). */
export function fromNow(iso, now = Date.now()) {
  const date = toDate(iso);
  if (!date) return "";
  const minutes = Math.round((date.getTime() - now) / 60000);
  if (minutes <= 0) return "any moment now";
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `in ${hours} h`;
  return `in ${Math.round(hours / 24)} days`;
}

export function duration(startIso, endIso) {
  const start = toDate(startIso);
  const end = toDate(endIso);
  if (!start || !end) return "";
  const seconds = Math.max(0, Math.round((end - start) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}

export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Value of an <input type="datetime-local"> (local time) as ISO 8601 UTC, or null. */
export function localInputToIso(value) {
  if (!value) return null;
  const date = new Date(value); // no zone in the string: the browser reads it as local
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A Date as the value format of <input type="datetime-local">, in local time. */
export function dateToLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}
