// Audience figures of a Space: peak, unique and current listeners, a line plot of
// concurrent listeners over time and a bar chart of joins per minute (plain SVG).
// Method: townhall/backends/memory/audience.py and README "Audience figures".
import { get, showError } from "./api.js";

const $ = (id) => document.getElementById(id);
const spaceId = $("analytics").dataset.spaceId;
const url = `/api/spaces/${encodeURIComponent(spaceId)}/audience`;
const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 48, right: 32, top: 14, bottom: 44 };
const TIME_STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
const MAX_X_TICKS = 6;
let timer = null;

function svgEl(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** Integer ticks 0..top for a count axis: steps of 1, 2, 5, 10, 20, 50… */
function countTicks(max) {
  const rough = Math.max(1, max) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough));
  const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
  const ticks = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  return { ticks, top };
}

/** Round wall-clock times (seconds) between t0 and t1, at most MAX_X_TICKS of them. */
function timeTicks(t0, t1) {
  const span = t1 - t0;
  const step = TIME_STEPS.find((s) => span / s <= MAX_X_TICKS) || span / MAX_X_TICKS;
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

function clock(seconds, withSeconds) {
  return new Date(seconds * 1000).toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23", // short tick labels: 14:05, not 02:05 PM
    ...(withSeconds ? { second: "2-digit" } : {}),
  });
}

/** Axes, grid lines and labels; returns the scales for the data. */
function frame(svg, { t0, t1, yMax, yLabel, xLabel }) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const { ticks: yTicks, top } = countTicks(yMax);
  const x = (t) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;
  const axes = svgEl("g", { class: "axes" });
  for (const v of yTicks) {
    axes.append(svgEl("line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }));
    axes.append(svgEl("text", { class: "tick", x: MARGIN.left - 6, y: y(v) + 4, "text-anchor": "end" }, v));
  }
  const { ticks: xTicks, step } = timeTicks(t0, t1);
  for (const t of xTicks) {
    axes.append(svgEl("line", { class: "axis", x1: x(t), x2: x(t), y1: MARGIN.top + plotH, y2: MARGIN.top + plotH + 4 }));
    axes.append(
      svgEl("text", { class: "tick", x: x(t), y: MARGIN.top + plotH + 17, "text-anchor": "middle" }, clock(t, step < 60)),
    );
  }
  axes.append(svgEl("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotH }));
  axes.append(
    svgEl("line", { class: "axis", x1: MARGIN.left, x2: width - MARGIN.right, y1: MARGIN.top + plotH, y2: MARGIN.top + plotH }),
  );
  axes.append(
    svgEl("text", { class: "axis-label", x: MARGIN.left + plotW / 2, y: height - 6, "text-anchor": "middle" }, xLabel),
  );
  axes.append(
    svgEl(
      "text",
      {
        class: "axis-label",
        x: -(MARGIN.top + plotH / 2),
        y: 13,
        transform: "rotate(-90)",
        "text-anchor": "middle",
      },
      yLabel,
    ),
  );
  svg.replaceChildren(axes);
  return { x, y, plotW, plotH };
}

function drawConcurrent(points) {
  const svg = $("concurrent-chart");
  $("concurrent-empty").hidden = points.length > 0;
  if (!points.length) {
    svg.replaceChildren();
    return;
  }
  let t0 = points[0][0];
  let t1 = points[points.length - 1][0];
  if (t1 - t0 < 60) t0 = t1 - 60; // a minute at least (the line starts at the first sample)
  const yMax = Math.max(...points.map(([, n]) => n));
  const { x, y } = frame(svg, { t0, t1, yMax, yLabel: "Listeners", xLabel: "Time of day" });
  const coords = points.map(([t, n]) => `${x(t).toFixed(1)},${y(n).toFixed(1)}`);
  svg.append(svgEl("polyline", { class: "series", points: coords.join(" ") }));
  const [lt, ln] = points[points.length - 1];
  svg.append(svgEl("circle", { class: "series-dot", cx: x(lt), cy: y(ln), r: 3.5 }));
}

function drawJoins(joins) {
  const svg = $("joins-chart");
  $("joins-empty").hidden = joins.length > 0;
  if (!joins.length) {
    svg.replaceChildren();
    return;
  }
  // One bar per minute from the first join to the last, minutes without joins included.
  const first = joins[0][0];
  const last = joins[joins.length - 1][0];
  const byMinute = new Map(joins);
  const t0 = first;
  const t1 = Math.max(last + 60, first + 5 * 60);
  const yMax = Math.max(...joins.map(([, n]) => n));
  const { x, y } = frame(svg, { t0, t1, yMax, yLabel: "Joins", xLabel: "Minute (time of day)" });
  const barW = Math.max(1, x(t0 + 60) - x(t0) - 2);
  for (let m = first; m <= last; m += 60) {
    const n = byMinute.get(m) || 0;
    if (!n) continue;
    const bar = svgEl("rect", { class: "bar", x: x(m) + 1, y: y(n), width: barW, height: y(0) - y(n) });
    bar.append(svgEl("title", {}, `${clock(m, false)}: ${n} joined`));
    svg.append(bar);
  }
}

async function load() {
  try {
    const figures = await get(url);
    showError(null);
    $("figure-peak").textContent = figures.peak;
    $("figure-unique").textContent = figures.unique;
    $("figure-concurrent-box").hidden = !figures.live;
    $("figure-concurrent").textContent = figures.concurrent;
    $("beacon-interval").textContent = figures.beacon_interval;
    $("concurrent-window").textContent = figures.concurrent_window;
    const points = figures.samples.slice();
    // Live: the plot ends now, at the figure shown above it.
    if (figures.live) points.push([Date.now() / 1000, figures.concurrent]);
    drawConcurrent(points);
    drawJoins(figures.joins_per_minute);
    $("analytics-updated").textContent = figures.live
      ? ` · live, updated ${clock(Date.now() / 1000, true)}`
      : " · the Space is not on air";
    clearTimeout(timer);
    if (figures.live) timer = setTimeout(load, figures.beacon_interval * 1000);
  } catch (err) {
    showError(err);
    clearTimeout(timer);
    if (err.status !== 404) timer = setTimeout(load, 10_000);
  }
}

load();
