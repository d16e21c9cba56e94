// Small display helpers shared by pages.

export const STATE_LABELS = { scheduled: "Scheduled", live: "Live", ended: "Replay" };

export function when(iso) {
  if (!iso) return "";
  // The API sends UTC; naive timestamps are UTC too.
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function duration(startIso, endIso) {
  if (!startIso || !endIso) return "";
  const fix = (iso) => new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  const seconds = Math.max(0, Math.round((fix(endIso) - fix(startIso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}
