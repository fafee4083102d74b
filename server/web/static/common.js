/* Shared by the console pages: API calls with the page's key, websockets, small DOM helpers.
   Plain JS, no build step, nothing loaded from outside this server. */
"use strict";

const Console = (() => {
  const params = new URLSearchParams(location.search);
  // A proctor key or a candidate token: given after "#" (#key=... / #token=..., never sent to
  // the server, so never in a log), kept in this tab's sessionStorage; never put in a URL.
  // Websockets and links get a short-lived ticket instead (POST /api/tickets).
  const STORE = "proctor.credential";
  const fragment = new URLSearchParams(location.hash.slice(1));
  const legacy = params.get("key") || params.get("token"); // old links: moved out of the URL
  let credential = fragment.get("key") || fragment.get("token") || legacy || sessionStorage.getItem(STORE) || "";
  if (credential) sessionStorage.setItem(STORE, credential);
  if (legacy || fragment.has("key") || fragment.has("token")) {
    const clean = new URL(location.href);
    clean.searchParams.delete("key");
    clean.searchParams.delete("token");
    clean.hash = "";
    history.replaceState(null, "", clean.pathname + clean.search);
  }

  function setCredential(value) {
    credential = value || "";
    if (credential) sessionStorage.setItem(STORE, credential);
    else sessionStorage.removeItem(STORE);
  }

  /** A ticket for one URL (websocket, report link), or null when the server has no keys. */
  async function ticket() {
    if (!credential) return null;
    const data = await api("/api/tickets", { method: "POST", body: {} });
    return data.ticket;
  }

  function withTicket(path, t) {
    if (!t) return path;
    const url = new URL(path, location.origin);
    url.searchParams.set("ticket", t);
    return url.pathname + url.search;
  }

  // Links to this server's API (the report) open with a fresh ticket: a link cannot carry a header.
  document.addEventListener("click", async (ev) => {
    const a = ev.target.closest && ev.target.closest("a[href^='/api/']");
    if (!a || !credential) return;
    ev.preventDefault();
    const target = a.getAttribute("target") || "_self";
    const win = target === "_self" ? null : window.open("about:blank", target);
    const url = withTicket(a.getAttribute("href"), await ticket());
    if (win) win.location = url;
    else location.href = url;
  });

  const METRICS = [
    ["eye_contact", "Eye contact"],
    ["confidence", "Confidence"],
    ["engagement", "Engagement"],
    ["posture", "Posture"],
  ];

  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (credential) headers["X-API-Key"] = credential;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError("Server unreachable", 0);
    }
    let data = {};
    try {
      data = await res.json();
    } catch (err) {
      data = {};
    }
    if (!res.ok || data.success === false) {
      throw new ApiError(data.error || `Request failed (${res.status})`, res.status, data);
    }
    return data;
  }

  /** A URL of this server (links, report); the click handler above adds a ticket when keyed. */
  function withKey(path, extra = {}) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(extra)) if (v) url.searchParams.set(k, v);
    return url.pathname + url.search;
  }

  /** A websocket that reconnects; onMessage gets each parsed JSON message. */
  function socket(path, { onMessage, onState }) {
    let ws = null;
    let closed = false;
    let delay = 500;
    const self = {
      send(obj) {
        if (ws && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify(obj));
          return true;
        }
        return false;
      },
      get open() {
        return !!ws && ws.readyState === WebSocket.OPEN;
      },
      close() {
        closed = true;
        if (ws) ws.close();
      },
    };
    async function connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      let t = null;
      try {
        t = await ticket();
      } catch (err) {
        onState && onState(err.status === 401 ? "denied" : "offline");
        if (!closed && err.status !== 401) setTimeout(connect, (delay = Math.min(delay * 2, 8000)));
        return;
      }
      ws = new WebSocket(proto + "//" + location.host + withTicket(path, t));
      onState && onState("connecting");
      ws.onopen = () => {
        delay = 500;
        onState && onState("live");
      };
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch (err) {
          return;
        }
        onMessage(msg);
      };
      ws.onclose = (ev) => {
        onState && onState(ev.code === 4401 ? "denied" : "offline");
        // 4401: no access, 4404: no such session; retrying will not help.
        if (!closed && ev.code !== 4401 && ev.code !== 4404) {
          setTimeout(connect, delay);
          delay = Math.min(delay * 2, 8000);
        }
      };
    }
    connect();
    return self;
  }

  /** el("div.card.big", {text: "x", onclick}, children...) */
  function el(spec, props = {}, ...children) {
    const [tag, ...classes] = spec.split(".");
    const node = document.createElement(tag || "div");
    if (classes.length) node.className = classes.join(" ");
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function fmtPct(v) {
    return v === null || v === undefined ? "–" : `${Math.round(v * 10) / 10}%`;
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") ? iso : iso + "Z");
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return "";
    s = Math.max(0, Math.round(s));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function humanAlert(type) {
    return String(type || "").replace(/_/g, " ");
  }

  /** Level of a 0-100 score or similarity for colouring: good / fair / poor. */
  function level(v, good = 70, fair = 45) {
    if (v === null || v === undefined) return "none";
    return v >= good ? "good" : v >= fair ? "fair" : "poor";
  }

  function metricBar(label, value) {
    const fill = el("span.bar-fill");
    fill.style.width = `${Math.max(0, Math.min(100, value || 0))}%`;
    fill.classList.add(level(value));
    return el("div.metric", {},
      el("span.metric-label", { text: label }),
      el("span.bar", {}, fill),
      el("span.metric-value", { text: value === null || value === undefined ? "–" : String(value) }));
  }

  function alertItem(alert, extra) {
    return el(`li.alert.${alert.severity || "info"}`, {},
      el("span.alert-sev", { text: alert.severity || "info" }),
      el("span.alert-type", { text: humanAlert(alert.type) }),
      el("span.alert-msg", { text: alert.message || "" }),
      el("span.alert-time", { text: extra || (alert.timestamp !== undefined ? `${fmtSeconds(alert.timestamp)}` : "") }));
  }

  function shortId(id) {
    return String(id || "").slice(0, 8);
  }

  return { api, ApiError, withKey, socket, el, fmtPct, fmtTime, fmtSeconds, humanAlert, level, metricBar,
           alertItem, shortId, METRICS, get credential() { return credential; }, setCredential, params };
})();
