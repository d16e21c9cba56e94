// The incident timeline of a Space (GET /api/spaces/{id}/timeline): a bar per minute
// coloured by its verdict (height: requests), the share refused as a line, and a table
// of every figure with the rule's reason. Method: README "Incident timeline".
import { get, showError } from "./api.js";

const $ = (id) => document.getElementById(id);
const spaceId = $("status").dataset.spaceId;
const url = `/api/spaces/${encodeURIComponent(spaceId)}/timeline`;
const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 52, right: 12, top: 12, bottom: 34 };
const REFRESH_MS = 5000;
const WORDS = { healthy: "healthy", overloaded: "overloaded", under_attack: "under attack",
                degraded: "degraded" };

function svgEl(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function clock(seconds, withSeconds) {
  return new Date(seconds * 1000).toLocaleTimeString(undefined, {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    ...(withSeconds ? { second: "2-digit" } : {}),
  });
}

const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);
const secs = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(2)} s`);

function plot(minutes, withSeconds) {
  const svg = $("timeline-chart");
  svg.replaceChildren();
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  if (!minutes.length) return;
  const top = Math.max(1, ...minutes.map((m) => m.requests));
  const slot = plotW / minutes.length;
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;
  svg.append(svgEl("line", { class: "axis", x1: MARGIN.left, x2: width - MARGIN.right,
                             y1: MARGIN.top + plotH, y2: MARGIN.top + plotH }));
  svg.append(svgEl("text", { class: "tick", x: MARGIN.left - 6, y: MARGIN.top + 10,
                             "text-anchor": "end" }, String(top)));
  svg.append(svgEl("text", { class: "tick", x: MARGIN.left - 6, y: MARGIN.top + plotH,
                             "text-anchor": "end" }, "0"));
  const labelEvery = Math.max(1, Math.ceil(minutes.length / 6));
  const refused = [];
  minutes.forEach((m, i) => {
    const x = MARGIN.left + i * slot;
    const h = Math.max(2, MARGIN.top + plotH - y(m.requests));
    const bar = svgEl("rect", { class: `bar-${m.verdict}`, x: x + slot * 0.1, width: slot * 0.8,
                                y: MARGIN.top + plotH - h, height: h });
    bar.append(svgEl("title", {}, `${clock(m.start, withSeconds)}: ${WORDS[m.verdict]}, ` +
                                  `${m.requests} requests (${m.reason})`));
    svg.append(bar);
    const refusedCount = Object.values(m.refused).reduce((a, b) => a + b, 0);
    const share = m.requests ? refusedCount / m.requests : 0;
    refused.push(`${x + slot / 2},${MARGIN.top + plotH - share * plotH}`);
    if (i % labelEvery === 0) {
      svg.append(svgEl("text", { class: "tick", x: x + slot / 2, y: height - 12,
                                 "text-anchor": "middle" }, clock(m.start, withSeconds)));
    }
  });
  svg.append(svgEl("polyline", { class: "refused-line", points: refused.join(" ") }));
}

function row(m, withSeconds) {
  const tr = document.createElement("tr");
  const s = m.statuses;
  const refusedBy = Object.entries(m.refused).map(([k, n]) => `${k}: ${n}`).join(", ") || "–";
  const cells = [
    clock(m.start, withSeconds), WORDS[m.verdict], String(m.requests),
    `${s["2xx"] + s["3xx"]} / ${s["4xx"]} / ${s["429"]} / ${s["5xx"]}`, refusedBy,
    `${m.join_successes} of ${m.join_attempts}`, `${secs(m.ttfa_p50)} / ${secs(m.ttfa_p99)}`,
    secs(m.answer_p99), pct(m.cache_hit_ratio),
    m.cpu === null ? "–" : `${m.cpu.toFixed(2)} cores`, pct(m.mixer_late_share),
    `${m.networks}${m.networks_capped ? "+" : ""}`, pct(m.top_share), m.source,
    `${m.rule}: ${m.reason}`,
  ];
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === 1) td.className = `verdict-${m.verdict}`;
    if (i === cells.length - 1) td.className = "why";
    tr.append(td);
  });
  return tr;
}

function summary(minutes) {
  const counts = {};
  for (const m of minutes) counts[m.verdict] = (counts[m.verdict] || 0) + 1;
  if (!minutes.length) return "Nothing counted yet.";
  const parts = Object.entries(counts).map(([v, n]) => `${n} ${WORDS[v]}`);
  return `${minutes.length} minute${minutes.length === 1 ? "" : "s"} counted: ${parts.join(", ")}.`;
}

async function refresh() {
  let data;
  try {
    data = await get(url);
  } catch (error) {
    showError(error);
    return;
  }
  const withSeconds = data.bucket_seconds < 60;
  plot(data.minutes, withSeconds);
  $("timeline-table").tBodies[0].replaceChildren(...data.minutes.map((m) => row(m, withSeconds)));
  $("timeline-empty").hidden = data.minutes.length > 0;
  $("status-summary").textContent = summary(data.minutes);
  $("status-updated").textContent = data.live ? ` · live, updated ${clock(Date.now() / 1000, true)}` : " · the Space is off air";
  if (data.live) setTimeout(refresh, REFRESH_MS);
}

refresh();
