/* Proctor dashboard: active sessions with live similarity, metrics and alerts (pushed over
   /ws/dashboard), a session's timeline, ended sessions with their reports. */
"use strict";

(() => {
  const { api, withKey, socket, el, fmtPct, fmtTime, fmtSeconds, humanAlert, level, metricBar, alertItem,
          shortId, METRICS } = Console;
  const $ = (id) => document.getElementById(id);

  const ALERTS_ON_CARD = 3;
  const END_REASONS = { client: "ended", idle: "idle timeout" };
  const TIMELINE_KEEP = 600; // frames kept per session for the chart (10 minutes at 1 fps)

  /** session_id -> {id, job, start, active, frames, last (frame summary), alerts[], timeline[], identity, ended} */
  const sessions = new Map();
  let selected = null;
  window.proctorDashboard = { sessions };

  function candidateName(s) {
    const job = s.job || {};
    return job.candidateName || job.candidate_name || `Candidate ${shortId(s.id)}`;
  }

  function ensure(id) {
    if (!sessions.has(id)) {
      sessions.set(id, { id, job: {}, start: null, active: true, frames: 0, last: null, alerts: [], timeline: [],
                         identity: null, alertCount: 0 });
    }
    return sessions.get(id);
  }

  // --- rendering ----------------------------------------------------------------------
  function renderStats() {
    const active = [...sessions.values()].filter((s) => s.active);
    $("stat-active").textContent = String(active.length);
    $("stat-alerts").textContent = String(active.reduce((n, s) => n + s.alertCount, 0));
    $("stat-critical").textContent = String(active.reduce(
      (n, s) => n + s.alerts.filter((a) => a.severity === "critical").length, 0));
    $("stat-ended").textContent = String(sessions.size - active.length);
  }

  function card(s) {
    const last = s.last || {};
    // The latest comparison; when this frame had no face, the one before (marked as such).
    const fv = last.face_verification || s.lastFv;
    const stale = !last.face_verification && !!s.lastFv;
    const simLabel = fv ? (stale ? `last seen · ${last.face_count ? "not compared" : "no face now"}` : fv.message)
      : s.identity ? "no face compared yet" : "face not registered";
    const simBox = el("div.sim", { dataset: { level: fv ? (stale ? "stale" : fv.verified ? "good" : "poor") : "none" } },
      el("span.sim-value", { text: fv ? fmtPct(fv.similarity) : "–" }),
      el("span.sim-label", { text: simLabel }));
    const metrics = el("div.metrics", {},
      METRICS.map(([k, label]) => metricBar(label, last.face_detected && last.metrics ? last.metrics[k] : null)));
    const recent = s.alerts.slice(-ALERTS_ON_CARD).reverse();
    const chips = el("ul.chips", {}, recent.length
      ? recent.map((a) => el(`li.chip.${a.severity}`, { text: humanAlert(a.type), title: a.message }))
      : el("li.chip.calm", { text: "no alerts" }));
    const critical = s.alerts.some((a) => a.severity === "critical");
    const node = el(`article.session-card${critical ? ".critical" : s.alertCount ? ".warning" : ""}`,
      { dataset: { session: s.id }, tabindex: "0", onclick: () => select(s.id),
        onkeydown: (e) => { if (e.key === "Enter") select(s.id); } },
      el("header.card-head", {},
        el("div.who", {},
          el("strong", { text: candidateName(s) }),
          el("span.muted", { text: [s.job.jobTitle, shortId(s.id)].filter(Boolean).join(" · ") })),
        simBox),
      metrics,
      el("footer.card-foot", {},
        el("span.muted", { text: `${s.frames} frames · ${last.face_count ?? "–"} face(s) · ` +
                                  `${last.dominant_emotion ? last.dominant_emotion.toLowerCase() : "–"}` }),
        el("span.badge", { text: `${s.alertCount} alert${s.alertCount === 1 ? "" : "s"}` })),
      chips);
    if (selected === s.id) node.classList.add("selected");
    return node;
  }

  function renderSessions() {
    const grid = $("sessions");
    const active = [...sessions.values()].filter((s) => s.active).sort((a, b) => (a.start < b.start ? -1 : 1));
    grid.replaceChildren(...(active.length ? active.map(card) : [el("p.empty-state", {
      text: "No active sessions. Candidates appear here as soon as they start." })]));
    renderEnded();
    renderStats();
  }

  function renderOne(s) {
    const old = document.querySelector(`.session-card[data-session="${CSS.escape(s.id)}"]`);
    if (old && s.active) old.replaceWith(card(s));
    else renderSessions();
    renderStats();
    if (selected === s.id) renderDetail();
  }

  function renderEnded() {
    const ended = [...sessions.values()].filter((s) => !s.active).sort((a, b) => (a.start > b.start ? -1 : 1));
    const rows = ended.map((s) => el("tr", { dataset: { session: s.id } },
      el("td", {}, el("strong", { text: candidateName(s) }), el("span.muted.mono", { text: ` ${shortId(s.id)}` })),
      el("td", { text: fmtTime(s.start) }),
      el("td", { text: String(s.frames) }),
      el("td", { text: String(s.alertCount) }),
      el("td", { text: END_REASONS[s.endReason] || s.endReason || "" }),
      el("td.right", {},
        el("button.btn.small.ghost", { type: "button", text: "Timeline", onclick: () => select(s.id) }),
        el("a.btn.small", { href: withKey(`/api/sessions/${s.id}/report?format=html`), target: "_blank",
                            rel: "noopener", text: "Report" }))));
    $("ended").replaceChildren(...(rows.length ? rows : [el("tr.empty", {}, el("td", { colspan: "6", text: "None yet." }))]));
  }

  // --- detail: timeline chart and alerts ------------------------------------------------
  const SERIES = [["similarity", "Similarity"], ...METRICS];
  const SVGNS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    const n = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    return n;
  }

  function chart(points, alerts) {
    const W = 640, H = 200, L = 34, R = 8, T = 10, B = 22;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img",
                              "aria-label": "Similarity and metrics per frame" });
    const n = points.length;
    const x0 = n ? points[0].frame_number : 0;
    const x1 = n ? Math.max(points[n - 1].frame_number, x0 + 1) : 1;
    const x = (f) => L + ((f - x0) / (x1 - x0)) * (W - L - R);
    const y = (v) => T + (1 - v / 100) * (H - T - B);
    for (const v of [0, 25, 50, 75, 100]) {
      root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      const t = svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
      t.textContent = String(v);
      root.append(t);
    }
    // Frames without a face: a grey band (the candidate was not in view).
    const step = n > 1 ? (W - L - R) / (x1 - x0) : 0;
    for (const p of points) {
      if (!p.face_count) {
        root.append(svg("rect", { x: (x(p.frame_number) - step / 2).toFixed(1), y: T, width: Math.max(step, 2).toFixed(1),
                                  height: H - T - B, class: "noface" }));
      }
    }
    // Frames with an alert: a tick on the time axis.
    for (const p of points) {
      if (p.alerts && p.alerts.length) {
        root.append(svg("line", { x1: x(p.frame_number), x2: x(p.frame_number), y1: T, y2: H - B, class: "alert-mark" }));
      }
    }
    // Metrics first, similarity last: on top where they meet at 100.
    [...SERIES.entries()].reverse().forEach(([i, [key]]) => {
      let d = "";
      let pen = false;
      for (const p of points) {
        const v = key === "similarity" ? p.similarity : p.metrics && p.face_count ? p.metrics[key] : null;
        if (v === null || v === undefined) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${x(p.frame_number).toFixed(1)},${y(v).toFixed(1)} `;
        pen = true;
      }
      if (d) root.append(svg("path", { d, class: `series s${i}` }));
    });
    const t0 = svg("text", { x: L, y: H - 6, class: "axis" });
    t0.textContent = n ? `frame ${x0}` : "no frames yet";
    const t1 = svg("text", { x: W - R, y: H - 6, class: "axis", "text-anchor": "end" });
    t1.textContent = n ? `frame ${points[n - 1].frame_number}` : "";
    root.append(t0, t1);
    return root;
  }

  function renderDetail() {
    const s = sessions.get(selected);
    if (!s) return;
    $("detail").classList.remove("hidden");
    $("detail-title").textContent = candidateName(s);
    $("detail-id").textContent = s.id;
    const report = $("detail-report");
    report.href = withKey(`/api/sessions/${s.id}/report?format=html`);
    report.classList.toggle("hidden", s.active);
    $("detail-end").classList.toggle("hidden", !s.active);
    const fv = (s.last && s.last.face_verification) || s.lastFv;
    const facts = [
      ["Status", s.active ? "active" : `ended${s.endReason ? ` (${s.endReason})` : ""}`],
      ["Started", fmtTime(s.start)],
      ["Frames", String(s.frames)],
      ["Identity", s.identity ? (s.identity.verified === false ? "document not verified" :
        s.identity.source === "verify-document" ? "document verified" : "face registered") : "not registered"],
      ["Similarity", fv ? fmtPct(fv.similarity) : "–"],
      ["Role", s.job.jobTitle || "–"],
    ];
    $("detail-facts").replaceChildren(...facts.map(([k, v]) => el("div.fact", {}, el("span.fact-k", { text: k }),
                                                                        el("span.fact-v", { text: v }))));
    $("chart").replaceChildren(chart(s.timeline, s.alerts));
    $("legend").replaceChildren(...SERIES.map(([, label], i) => el("span.key", {}, el(`i.swatch.s${i}`), label)),
      el("span.key", {}, el("i.swatch.noface"), "no face"), el("span.key", {}, el("i.swatch.alert-key"), "alert"));
    $("detail-alert-count").textContent = String(s.alertCount);
    const items = s.alerts.slice().reverse().map((a) => alertItem(a, fmtSeconds(a.timestamp)));
    $("detail-alerts").replaceChildren(...(items.length ? items : [el("li.empty", { text: "No alerts." })]));
    for (const c of document.querySelectorAll(".session-card")) {
      c.classList.toggle("selected", c.dataset.session === selected);
    }
  }

  async function select(id) {
    selected = id;
    const s = sessions.get(id);
    renderDetail();
    try {
      const [tl, al] = await Promise.all([
        api(`/api/sessions/${id}/timeline?last=${TIMELINE_KEEP}`),
        api(`/api/sessions/${id}/alerts`),
      ]);
      s.timeline = tl.frames;
      s.alerts = al.alerts;
      s.alertCount = al.total_alerts;
      renderDetail();
    } catch (err) {
      showBanner(err.message);
    }
  }

  $("detail-close").addEventListener("click", () => {
    selected = null;
    $("detail").classList.add("hidden");
    for (const c of document.querySelectorAll(".session-card.selected")) c.classList.remove("selected");
  });

  $("detail-end").addEventListener("click", async () => {
    if (!selected) return;
    $("detail-end").disabled = true;
    try {
      await api(`/api/sessions/${selected}/end`, { method: "POST" });
    } catch (err) {
      showBanner(err.message);
    } finally {
      $("detail-end").disabled = false;
    }
  });

  // --- push -----------------------------------------------------------------------------
  function onMessage(msg) {
    const id = msg.session_id;
    switch (msg.type) {
      case "session_started": {
        const s = ensure(id);
        s.job = msg.job_data || {};
        s.start = msg.start_time;
        s.active = true;
        renderSessions();
        break;
      }
      case "frame_summary": {
        const s = ensure(id);
        s.last = msg;
        if (msg.face_verification) s.lastFv = msg.face_verification;
        s.frames = Math.max(s.frames, msg.frame_number);
        s.timeline.push({ frame_number: msg.frame_number, timestamp: msg.timestamp, face_count: msg.face_count,
                          metrics: msg.metrics, similarity: msg.face_verification ? msg.face_verification.similarity : null,
                          alerts: (msg.alerts || []).map((a) => a.type) });
        if (s.timeline.length > TIMELINE_KEEP) s.timeline.splice(0, s.timeline.length - TIMELINE_KEEP);
        renderOne(s);
        break;
      }
      case "alert": {
        const s = ensure(id);
        s.alerts.push(msg.alert);
        s.alertCount += 1;
        renderOne(s);
        break;
      }
      case "identity": {
        const s = ensure(id);
        s.identity = msg;
        renderOne(s);
        break;
      }
      case "session_ended": {
        const s = ensure(id);
        s.active = false;
        s.endReason = msg.reason;
        renderSessions();
        if (selected === id) renderDetail();
        break;
      }
      case "session_deleted":
        sessions.delete(id);
        if (selected === id) $("detail-close").click();
        renderSessions();
        break;
      case "error":
        if (msg.status === 401) askKey();
        else showBanner(msg.error);
        break;
      default:
        break;
    }
  }

  function setConn(state) {
    const pill = $("conn");
    pill.textContent = state === "live" ? "live" : state === "denied" ? "no access" : state;
    pill.className = `pill ${state === "live" ? "live" : "offline"}`;
    document.body.dataset.conn = state;
  }

  /** Keyed server, no (valid) key yet: ask for one; it stays in this tab, never in the URL. */
  function askKey() {
    const b = $("banner");
    const input = el("input", { type: "password", placeholder: "Proctor API key", autocomplete: "off",
                                id: "key-input" });
    const form = el("form.key-form", {}, "This dashboard needs a proctor key. ", input,
                    el("button.btn.small.primary", { type: "submit", text: "Open" }));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      Console.setCredential(input.value.trim());
      location.reload();
    });
    b.replaceChildren(form);
    b.classList.remove("hidden");
  }

  function showBanner(text) {
    const b = $("banner");
    b.textContent = text;
    b.classList.remove("hidden");
  }

  // --- invite ---------------------------------------------------------------------------
  $("invite-btn").addEventListener("click", () => $("invite").classList.toggle("hidden"));
  $("invite-close").addEventListener("click", () => $("invite").classList.add("hidden"));
  $("invite-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const job = { candidateName: $("invite-name").value.trim(), jobTitle: $("invite-role").value.trim() };
    for (const k of Object.keys(job)) if (!job[k]) delete job[k];
    try {
      const data = await api("/api/sessions/start", { method: "POST", body: { job_data: job } });
      const url = new URL("/console/candidate", location.origin);
      url.searchParams.set("session", data.session_id);
      // After "#": the browser never sends it to a server, so it reaches no log.
      if (data.candidate_token) url.hash = "token=" + data.candidate_token;
      $("invite-url").value = url.href;
      $("invite-link").classList.remove("hidden");
    } catch (err) {
      showBanner(err.message);
    }
  });
  $("invite-copy").addEventListener("click", async () => {
    $("invite-url").select();
    try {
      await navigator.clipboard.writeText($("invite-url").value);
      $("invite-copy").textContent = "Copied";
    } catch (err) {
      document.execCommand && document.execCommand("copy");
    }
  });

  // --- boot -----------------------------------------------------------------------------
  async function load() {
    try {
      const list = await api("/api/sessions");
      for (const row of list.sessions) {
        const s = ensure(row.session_id);
        s.job = row.job_data || {};
        s.start = row.start_time;
        s.active = row.is_active;
        s.frames = row.total_frames_received ?? row.frames_analyzed;
        s.alertCount = row.alert_count;
        s.endReason = row.end_reason;
        s.identity = row.face_registered ? { source: "register-face" } : null;
      }
      renderSessions();
      // Active sessions: their latest frames and alerts, then the push keeps them current.
      await Promise.allSettled([...sessions.values()].filter((s) => s.active).map(async (s) => {
        const [tl, al] = await Promise.all([api(`/api/sessions/${s.id}/timeline?last=${TIMELINE_KEEP}`),
                                            api(`/api/sessions/${s.id}/alerts`)]);
        s.timeline = tl.frames;
        const lastFrame = tl.frames[tl.frames.length - 1];
        if (lastFrame && !s.last) {
          s.last = { frame_number: lastFrame.frame_number, face_count: lastFrame.face_count,
                     face_detected: lastFrame.face_count > 0, metrics: lastFrame.metrics,
                     dominant_emotion: lastFrame.dominant_emotion,
                     face_verification: lastFrame.similarity === null ? null :
                       { similarity: lastFrame.similarity, verified: lastFrame.verified,
                         message: lastFrame.verified ? "Face verified" : "Face not verified" } };
        }
        const lastSim = [...tl.frames].reverse().find((f) => f.similarity !== null && f.similarity !== undefined);
        if (lastSim && !s.lastFv) {
          s.lastFv = { similarity: lastSim.similarity, verified: lastSim.verified,
                       message: lastSim.verified ? "Face verified" : "Face not verified" };
        }
        s.alerts = al.alerts;
        s.alertCount = al.total_alerts;
      }));
      renderSessions();
    } catch (err) {
      if (err.status === 401) askKey();
      else showBanner(err.message);
    }
  }

  // Connect first so nothing is missed between the list and the push.
  socket("/ws/dashboard", { onMessage, onState: setConn });
  load();
})();
