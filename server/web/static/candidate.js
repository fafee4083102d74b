/* Candidate page: camera preview, session, identity (ID document or face only), frames at
   1 fps over the plain websocket (REST when it is down), live feedback, end and report. */
"use strict";

(() => {
  const { api, ApiError, withKey, socket, el, fmtPct, metricBar, alertItem, METRICS, params } = Console;
  const $ = (id) => document.getElementById(id);

  const FRAME_EVERY_MS = 1000;
  const MAX_ALERTS_SHOWN = 50;

  const state = {
    sessionId: params.get("session") || null,
    stream: null,
    live: null, // websocket
    timer: null,
    inflight: 0, // time the last frame left, 0 when none is waiting for its result
    frames: 0,
    alerts: 0,
    identityOk: false,
    ended: false,
    mic: null, // ProctorMicrophone while the interview runs (docs/audio.md)
    audioChunks: 0,
  };
  window.proctorCandidate = state; // for tests and curious people

  // --- camera ---------------------------------------------------------------------------
  async function startCamera() {
    const overlay = $("cam-overlay");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      overlay.textContent = "This browser cannot open the camera here (it needs https or localhost).";
      overlay.classList.add("error");
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false,
      });
      const video = $("preview");
      video.srcObject = state.stream;
      await video.play().catch(() => {});
      video.addEventListener("playing", () => overlay.classList.add("hidden"), { once: true });
      if (!video.paused) overlay.classList.add("hidden");
    } catch (err) {
      overlay.textContent = `Camera unavailable: ${err.name === "NotAllowedError" ? "permission denied" : err.message || err.name}`;
      overlay.classList.add("error");
    }
  }

  function capture(quality = 0.85) {
    const video = $("preview");
    if (!video.videoWidth) throw new ApiError("The camera is not ready yet", 0);
    const scale = Math.min(1, 1280 / video.videoWidth);
    const canvas = $("grab");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/jpeg", quality);
  }

  // --- steps ----------------------------------------------------------------------------
  function showStep(name) {
    for (const id of ["start", "identity", "interview", "done"]) {
      $(`step-${id}`).classList.toggle("hidden", id !== name);
    }
    let past = true;
    for (const li of $("stepper").children) {
      const current = li.dataset.step === name;
      if (current) past = false;
      li.classList.toggle("current", current);
      li.classList.toggle("done", past && !current);
    }
    document.body.dataset.step = name;
  }

  function setConn(s) {
    const pill = $("conn");
    pill.textContent = s === "live" ? "live" : s === "denied" ? "no access" : s === "connecting" ? "connecting" : "offline";
    pill.className = `pill ${s === "live" ? "live" : "offline"}`;
  }

  function attachSession(id) {
    state.sessionId = id;
    document.body.dataset.session = id;
    $("session-label").textContent = `session ${id.slice(0, 8)}`;
    state.live = socket(`/ws/sessions/${encodeURIComponent(id)}`, { onMessage, onState: setConn });
  }

  // --- 1. start -------------------------------------------------------------------------
  $("start-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("start-btn");
    btn.disabled = true;
    $("start-error").classList.add("hidden");
    const jobData = { candidateName: $("candidate-name").value.trim(), jobTitle: $("job-title").value.trim(),
                      interviewType: "Console" };
    for (const k of Object.keys(jobData)) if (!jobData[k]) delete jobData[k];
    try {
      const data = await api("/api/sessions/start", { method: "POST", body: { job_data: jobData } });
      attachSession(data.session_id);
      showStep("identity");
    } catch (err) {
      const msg = err.status === 401 ? "This server needs an interview link from your proctor." : err.message;
      $("start-error").textContent = msg;
      $("start-error").classList.remove("hidden");
    } finally {
      btn.disabled = false;
    }
  });

  // --- 2. identity ----------------------------------------------------------------------
  let documentDataUrl = null;
  $("doc-file").addEventListener("change", () => {
    const file = $("doc-file").files[0];
    documentDataUrl = null;
    $("verify-btn").disabled = true;
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      documentDataUrl = reader.result;
      $("doc-preview").src = documentDataUrl;
      $("doc-preview").classList.remove("hidden");
      $("verify-btn").disabled = false;
    };
    reader.readAsDataURL(file);
  });

  function showIdentity(ok, title, detail) {
    const box = $("identity-result");
    box.replaceChildren(el("strong", { text: title }), detail ? el("span", { text: detail }) : null);
    box.className = `result ${ok ? "ok" : "fail"}`;
    if (ok) {
      state.identityOk = true;
      $("to-interview").disabled = false;
    }
  }

  async function identityCall(btn, fn) {
    btn.disabled = true;
    const box = $("identity-result");
    box.className = "result pending";
    box.replaceChildren(el("strong", { text: "Checking…" }));
    try {
      await fn();
    } catch (err) {
      if (err.body && err.body.face_registered) {
        showIdentity(true, "Your face is already registered for this session.", "");
      } else {
        showIdentity(false, "Not verified", err.message);
      }
    } finally {
      btn.disabled = btn.id === "verify-btn" && !documentDataUrl;
    }
  }

  $("verify-btn").addEventListener("click", () => identityCall($("verify-btn"), async () => {
    const data = await api(`/api/sessions/${state.sessionId}/verify-document`, {
      method: "POST",
      body: { document: documentDataUrl, live_face: capture(0.92), document_type: $("doc-type").value },
    });
    const detail = `Similarity ${fmtPct(data.similarity)} (threshold ${fmtPct(data.threshold)}). ${data.next_step || ""}`;
    if (data.verified) showIdentity(true, "Identity verified", detail);
    else showIdentity(false, "Not verified", `${data.message} ${data.next_step || ""}`);
  }));

  $("register-btn").addEventListener("click", () => identityCall($("register-btn"), async () => {
    const data = await api(`/api/sessions/${state.sessionId}/register-face`, {
      method: "POST", body: { face: capture(0.92) },
    });
    showIdentity(true, "Face registered", `Detection confidence ${fmtPct(data.face_confidence)}.`);
  }));

  $("to-interview").addEventListener("click", () => showStep("interview"));

  // --- 3. interview ---------------------------------------------------------------------
  function renderMetrics(metrics) {
    $("metrics").replaceChildren(...METRICS.map(([k, label]) => metricBar(label, metrics ? metrics[k] : null)));
  }

  function renderResult(result) {
    state.frames = result.frame_number;
    $("frame-count").textContent = String(result.frame_number);
    document.body.dataset.frames = String(result.frame_number);
    const fv = result.face_verification;
    const tile = $("verify-tile");
    if (fv) {
      $("similarity").textContent = fmtPct(fv.similarity);
      $("verify-msg").textContent = fv.message;
      tile.dataset.level = fv.verified ? "good" : "poor";
    } else {
      $("similarity").textContent = "–";
      $("verify-msg").textContent = result.face_detected ? "no registered face to compare" : "no face in view";
      tile.dataset.level = result.face_detected ? "none" : "poor";
    }
    $("face-count").textContent = String(result.face_count);
    $("emotion").textContent = result.dominant_emotion ? result.dominant_emotion.toLowerCase() : "–";
    renderMetrics(result.face_detected ? result.metrics : null);
  }

  function addAlert(alert) {
    const list = $("alerts");
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.prepend(alertItem(alert));
    while (list.children.length > MAX_ALERTS_SHOWN) list.lastChild.remove();
    state.alerts += 1;
    $("alert-count").textContent = String(state.alerts);
  }

  function onMessage(msg) {
    if (msg.type === "frame_result") {
      state.inflight = 0;
      renderResult(msg.result);
    } else if (msg.type === "alert") {
      addAlert(msg.alert);
    } else if (msg.type === "error") {
      if (msg.event === "frame") {
        state.inflight = 0;
        $("verify-msg").textContent = msg.error;
        if (msg.status === 400 && /ended/i.test(msg.error)) finish(null);
      }
    } else if (msg.type === "session_ended") {
      finish(null, msg.report_url);
    }
  }

  async function sendFrame() {
    // One frame at a time: skip a tick while the last one is still being analysed (up to 5 s).
    if (state.inflight && Date.now() - state.inflight < 5000) return;
    let frame;
    try {
      frame = capture(0.8);
    } catch (err) {
      return;
    }
    state.inflight = Date.now();
    if (state.live && state.live.send({ type: "frame", frame })) return;
    try {
      const data = await api(`/api/sessions/${state.sessionId}/frame`, { method: "POST", body: { frame } });
      renderResult(data.result);
      for (const a of data.result.alerts) addAlert(a);
    } catch (err) {
      $("verify-msg").textContent = err.message;
    } finally {
      state.inflight = 0;
    }
  }

  // --- microphone: 1 s chunks to /audio while the interview runs (off without a microphone)
  async function startMic() {
    if (typeof ProctorMicrophone === "undefined" || !navigator.mediaDevices) return;
    try {
      state.mic = await ProctorMicrophone.start(async (audio) => {
        await api(`/api/sessions/${state.sessionId}/audio`, { method: "POST", body: { audio } });
        state.audioChunks += 1;
        document.body.dataset.audioChunks = String(state.audioChunks);
      });
    } catch (err) {
      document.body.dataset.micError = err.name || "error"; // interview goes on without audio
    }
  }

  $("begin-btn").addEventListener("click", () => {
    $("begin-btn").classList.add("hidden");
    $("end-btn").classList.remove("hidden");
    $("rec").classList.remove("hidden");
    sendFrame();
    state.timer = setInterval(sendFrame, FRAME_EVERY_MS);
    startMic();
  });

  $("end-btn").addEventListener("click", async () => {
    $("end-btn").disabled = true;
    clearInterval(state.timer);
    try {
      const data = await api(`/api/sessions/${state.sessionId}/end`, { method: "POST" });
      finish(data.report);
    } catch (err) {
      $("verify-msg").textContent = err.message;
      $("end-btn").disabled = false;
    }
  });

  // --- 4. done --------------------------------------------------------------------------
  function finish(report, reportUrl) {
    if (state.ended && !report) return;
    state.ended = true;
    clearInterval(state.timer);
    if (state.mic) { state.mic.stop(); state.mic = null; }
    $("rec").classList.add("hidden");
    if (state.stream) {  // the interview is over: let the camera go (its light turns off)
      for (const track of state.stream.getTracks()) track.stop();
      state.stream = null;
      $("cam-overlay").textContent = "Camera off";
      $("cam-overlay").classList.remove("hidden", "error");
    }
    const summary = report && report.session_summary;
    const overall = report && report.overall_behavior_analysis;
    $("done-summary").textContent = summary
      ? `${summary.total_frames_received} frames analysed over ${Math.round(summary.duration_seconds)} s, ` +
        `${summary.total_alerts} alert(s)` + (overall ? `, overall score ${overall.overallAveragePercentage}%.` : ".")
      : "The session has ended.";
    $("report-link").href = withKey(reportUrl || `/api/sessions/${state.sessionId}/report?format=html`);
    showStep("done");
  }

  // --- boot -----------------------------------------------------------------------------
  renderMetrics(null);
  startCamera();
  if (state.sessionId) {
    // Opened from an interview link: the session exists; skip to where it stands.
    attachSession(state.sessionId);
    api(`/api/sessions/${state.sessionId}/document-status`).then((s) => {
      if (s.face_registered) {
        showIdentity(true, "Your face is already registered for this session.", "");
      }
      showStep("identity");
    }).catch((err) => {
      showStep("start");
      $("start-error").textContent = err.status === 404 ? "This interview link is not valid." : err.message;
      $("start-error").classList.remove("hidden");
    });
  } else {
    showStep("start");
  }
})();
