// Fetch helpers for the JSON API. Errors throw ApiError carrying the server's error
// body: `code` (what pages act on), `detail` (a sentence to show) and, for a 422,
// `fields` (which inputs failed).

export class ApiError extends Error {
  constructor(status, message, { code = null, fields = [], retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

async function errorOf(response, retryAfter) {
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    /* not JSON */
  }
  let detail = `${response.status} ${response.statusText || "error"}`;
  if (body && typeof body.detail === "string") detail = body.detail;
  else if (body && Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg || String(d)).join("; ");
  return new ApiError(response.status, detail, {
    code: typeof body?.code === "string" ? body.code : null,
    fields: Array.isArray(body?.fields) ? body.fields.map(String) : [],
    retryAfter,
  });
}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.", { code: "unreachable" });
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw await errorOf(response, Number.isFinite(retry) ? retry : null);
  }
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** The signed-in user, or null when anonymous. */
export async function me() {
  try {
    return await get("/api/me");
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

/** Show a message in the page's error banner (null clears it). */
export function showError(err) {
  const box = document.getElementById("error");
  if (!box) return;
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = typeof err === "string" ? err : err.message || String(err);
  box.hidden = false;
}

/** The part of a 422's field name that names an input: "body.url" -> "url". */
const inputName = (field) => field.split(".").find((part) => !["body", "query", "path"].includes(part));

/**
 * Show an error: an invalid_request next to the input it names (`inputs` maps field
 * names to inputs), anything else in the banner.
 */
export function showProblem(err, inputs = {}) {
  if (err?.code === "invalid_request") {
    const input = (err.fields || []).map(inputName).map((name) => inputs[name]).find(Boolean);
    if (input) {
      showFieldError(input, err.message);
      return;
    }
  }
  showError(err);
}

function showFieldError(input, message) {
  clearFieldError(input);
  const note = el("span", { class: "field-error", role: "alert" }, message);
  input.setAttribute("aria-invalid", "true");
  input.after(note);
  input.focus();
  input.addEventListener("input", () => clearFieldError(input), { once: true });
}

function clearFieldError(input) {
  input.removeAttribute("aria-invalid");
  if (input.nextElementSibling?.classList.contains("field-error")) input.nextElementSibling.remove();
}

/** Before a new attempt: no banner, no field messages left from the last one. */
export function clearProblems(inputs = {}) {
  showError(null);
  for (const input of Object.values(inputs)) clearFieldError(input);
}

/**
 * The API builds absolute URLs from the server's configured base URL. When the page was
 * loaded through another address (a LAN IP, a proxy), use the page's own origin for them.
 */
export function localUrl(url, space) {
  if (!url) return url;
  const target = new URL(url, location.href);
  if (space && space.page_url) {
    const base = new URL(space.page_url, location.href).origin;
    if (target.origin === base && base !== location.origin) {
      return location.origin + target.pathname + target.search;
    }
  }
  return target.href;
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** `next` query parameter, only if it is a path on this site. */
export function nextPath(fallback = "/") {
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}
