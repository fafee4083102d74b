"""The stored report as one self-contained HTML page a proctor reads at a glance.

No script, font, stylesheet or image is fetched: the CSS is inline and the charts are
inline SVG drawn here on the server (hover titles via ``<title>``, no JS).  A
Content-Security-Policy of ``default-src 'none'`` makes the browser refuse anything
else.  Every string from the report is escaped: candidate names and job data are
user input, and so is anything an alert message repeats.
"""

from __future__ import annotations

import html
import math

from ..proctoring.observation import EMOTIONS
from ..proctoring.report_sections import Report
from . import series as S

W = 1000  # SVG user units; the charts scale to the page width
PAD_L, PAD_R, PAD_T, PAD_B = 46, 14, 12, 26


def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(value, suffix: str = "", digits: int = 0, none: str = "—") -> str:
    return S.number(value, suffix, digits, none)


def when(iso: str | None) -> str:
    if not iso:
        return "—"
    return e(S.utc_time(iso) or iso)


def band_class(score) -> str:
    v = S._num(score)
    if v is None:
        return "na"
    return "good" if v >= 75 else "fair" if v >= 60 else "poor"


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class Plot:
    """Maps (seconds, value) to SVG coordinates for one chart of ``height`` units."""

    def __init__(self, end: float, height: int, ymax: float = 100.0):
        self.end = end
        self.height = height
        self.ymax = ymax

    def x(self, t: float) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * min(max(t, 0.0), self.end) / self.end

    def y(self, v: float) -> float:
        v = min(max(v, 0.0), self.ymax)
        return self.height - PAD_B - (self.height - PAD_T - PAD_B) * v / self.ymax

    def grid(self, y_ticks=(0, 25, 50, 75, 100), y_labels: bool = True) -> str:
        out = []
        for v in y_ticks:
            y = _f(self.y(v))
            out.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y}" y2="{y}"/>')
            if y_labels:
                out.append(
                    f'<text class="tick" x="{PAD_L - 6}" y="{y}" text-anchor="end" dy="3.5">{v:g}</text>'
                )
        return "".join(out) + self.time_axis()

    def time_axis(self) -> str:
        base = self.height - PAD_B
        out = [f'<line class="axis" x1="{PAD_L}" x2="{W - PAD_R}" y1="{base}" y2="{base}"/>']
        for t in S.nice_ticks(self.end):
            x = self.x(t)
            anchor = (
                "end" if x > W - PAD_R - 24 else "middle"
            )  # the last label stays inside the chart
            out.append(
                f'<line class="axis" x1="{_f(x)}" x2="{_f(x)}" y1="{base}" y2="{base + 4}"/>'
            )
            out.append(
                f'<text class="tick" x="{_f(x)}" y="{base + 16}" text-anchor="{anchor}">{S.clock(t)}</text>'
            )
        return "".join(out)

    def line(self, pts: list[S.Point]) -> str:
        """Path data with a gap wherever the value is missing; a lone point becomes a dot."""
        parts: list[str] = []
        run: list[tuple[float, float]] = []

        def flush():
            if len(run) == 1:
                x, y = run[0]
                parts.append(f"M{_f(x)} {_f(y)}h0.01")
            elif run:
                parts.append("M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in run))
            run.clear()

        for t, v in pts:
            if v is None:
                flush()
            else:
                run.append((self.x(t), self.y(v)))
        flush()
        return "".join(parts)


def _svg(kind: str, height: int, label: str, body: str) -> str:
    return (
        f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {height}" role="img" '
        f'aria-label="{e(label)}" preserveAspectRatio="xMidYMid meet">{body}</svg>'
    )


def _legend(items: list[tuple[str, str]], extra: str = "") -> str:
    cells = "".join(
        f'<span><i style="background:{color}"></i>{e(name)}</span>' for name, color in items
    )
    return f'<div class="legend">{cells}{extra}</div>'


def _empty(plot: Plot, message: str) -> str:
    return (
        f'<text class="empty" x="{W / 2}" y="{_f((plot.height - PAD_B + PAD_T) / 2)}" '
        f'text-anchor="middle">{e(message)}</text>'
    )


def metrics_chart(report: Report, end: float) -> str:
    plot = Plot(end, 230)
    body = [plot.grid()]
    for t0, t1, n in S.face_count_spans(report, end):
        cls = "noface" if n == 0 else "multiface"
        what = "no face" if n == 0 else f"{n} faces"
        x0, x1 = plot.x(t0), plot.x(t1)
        body.append(
            f'<rect class="{cls}" x="{_f(x0)}" y="{PAD_T}" width="{_f(max(2.0, x1 - x0))}" '
            f'height="{plot.height - PAD_T - PAD_B}"><title>{S.clock(t0)}–{S.clock(t1)}: {what}</title></rect>'
        )
    drawn = 0
    for key, pts in S.metric_series(report).items():
        d = plot.line(pts)
        if not d:
            continue
        drawn += 1
        color = S.METRIC_COLORS[key]
        body.append(
            f'<path class="series" data-series="{key}" d="{d}" stroke="{color}">'
            f"<title>{S.METRIC_LABELS[key]}</title></path>"
        )
        if len(pts) <= 60:
            for t, v in pts:
                if v is not None:
                    body.append(
                        f'<circle cx="{_f(plot.x(t))}" cy="{_f(plot.y(v))}" r="3" fill="{color}">'
                        f"<title>{S.METRIC_LABELS[key]} {v:.0f} at {S.clock(t)}</title></circle>"
                    )
    if not drawn:
        body.append(_empty(plot, "No frame with a face was analysed"))
    legend = _legend(
        [(S.METRIC_LABELS[k], S.METRIC_COLORS[k]) for k in S.METRICS],
        '<span><i class="sw noface"></i>no face</span><span><i class="sw multiface"></i>several faces</span>',
    )
    return _figure(
        "Live metrics over time",
        "0–100 per analysed frame; gaps are frames without a face.",
        _svg(
            "metrics",
            plot.height,
            "Eye contact, confidence, engagement and posture over time",
            "".join(body),
        ),
        legend,
    )


def similarity_chart(report: Report, end: float) -> str:
    plot = Plot(end, 190)
    body = [plot.grid()]
    pts = S.similarity_series(report)
    threshold = S.verification_threshold(report)
    measured = [(t, v) for t, v in pts if v is not None]
    if threshold is not None:
        y = _f(plot.y(threshold))
        body.append(
            f'<rect class="below" x="{PAD_L}" y="{y}" width="{W - PAD_L - PAD_R}" '
            f'height="{_f(plot.y(0) - plot.y(threshold))}"/>'
        )
        body.append(
            f'<line class="threshold" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y}" y2="{y}">'
            f"<title>Match threshold {threshold:g}</title></line>"
        )
        body.append(
            f'<text class="thlabel" x="{W - PAD_R - 4}" y="{y}" dy="-5" text-anchor="end">'
            f"threshold {threshold:g}</text>"
        )
    if measured:
        body.append(
            f'<path class="series" data-series="similarity" d="{plot.line(pts)}" stroke="#0f172a">'
            f"<title>Similarity to the registered face</title></path>"
        )
        if len(measured) <= 120:
            for t, v in measured:
                ok = threshold is None or v >= threshold
                body.append(
                    f'<circle cx="{_f(plot.x(t))}" cy="{_f(plot.y(v))}" r="3.5" '
                    f'fill="{"#16a34a" if ok else "#dc2626"}"><title>{v:.1f} at {S.clock(t)}: '
                    f"{'match' if ok else 'mismatch'}</title></circle>"
                )
    else:
        registered = report.face_verification_summary.registered
        body.append(
            _empty(
                plot,
                "No frame was checked against the registered face"
                if registered
                else "No face registered: identity was not checked",
            )
        )
    legend = _legend(
        [("Similarity", "#0f172a"), ("match", "#16a34a"), ("mismatch", "#dc2626")],
        '<span><i class="sw dash"></i>threshold</span>',
    )
    return _figure(
        "Identity verification over time",
        "Similarity (0–100) of each checked frame to the registered face.",
        _svg(
            "similarity",
            plot.height,
            "Verification similarity over time with the threshold line",
            "".join(body),
        ),
        legend,
    )


def emotion_chart(report: Report, end: float) -> str:
    plot = Plot(end, 210)
    body = [plot.grid(y_ticks=(0, 50, 100))]
    shares = S.emotion_shares(report)
    if not shares:
        body.append(_empty(plot, "No emotion was measured (no frame with a face)"))
    elif len(shares) == 1:  # one sample: a stacked bar instead of an area
        t, sh = shares[0]
        x, base = plot.x(t), 0.0
        for k in EMOTIONS:
            if sh[k] > 0:
                y0, y1 = plot.y(base), plot.y(base + sh[k])
                body.append(
                    f'<path class="area" data-series="{k}" fill="{S.EMOTION_COLORS[k]}" '
                    f'd="M{_f(x - 6)} {_f(y0)}H{_f(x + 6)}V{_f(y1)}H{_f(x - 6)}Z"><title>{k.title()} '
                    f"{sh[k]:.0f}%</title></path>"
                )
                base += sh[k]
    else:
        lower = [0.0] * len(shares)
        xs = [plot.x(t) for t, _ in shares]
        for k in EMOTIONS:
            upper = [lo + sh[k] for lo, (_, sh) in zip(lower, shares, strict=False)]
            if max(u - lo for u, lo in zip(upper, lower, strict=False)) > 0:
                top = "L".join(f"{_f(x)} {_f(plot.y(u))}" for x, u in zip(xs, upper, strict=False))
                bottom = "L".join(
                    f"{_f(x)} {_f(plot.y(lo))}"
                    for x, lo in reversed(list(zip(xs, lower, strict=False)))
                )
                mean = sum(u - lo for u, lo in zip(upper, lower, strict=False)) / len(shares)
                body.append(
                    f'<path class="area" data-series="{k}" fill="{S.EMOTION_COLORS[k]}" '
                    f'd="M{top}L{bottom}Z"><title>{k.title()}: {mean:.0f}% on average</title></path>'
                )
            lower = upper
    legend = _legend([(k.title(), S.EMOTION_COLORS[k]) for k in EMOTIONS])
    return _figure(
        "Emotions over time",
        "Share of each emotion in the frames with a face (stacked to 100%).",
        _svg("emotions", plot.height, "Emotion timeline", "".join(body)),
        legend,
    )


def alert_chart(report: Report, end: float) -> str:
    marks = S.alert_marks(report)
    rows = S.alert_rows(marks)
    row_h = 26
    height = PAD_T + PAD_B + row_h * max(1, len(rows)) + 4
    plot = Plot(end, height)
    body = [plot.time_axis()]
    for i, kind in enumerate(rows):
        y = PAD_T + row_h * i + row_h / 2
        body.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{_f(y)}" y2="{_f(y)}"/>')
        body.append(
            f'<text class="rowlabel" x="{PAD_L + 4}" y="{_f(y)}" dy="-6">'
            f"{e(S.alert_label(kind))}</text>"
        )
    for m in marks:
        y = PAD_T + row_h * rows.index(m.type) + row_h / 2
        x = plot.x(m.timestamp)
        color = S.SEVERITY_COLORS[m.severity]
        # a diamond for critical, a circle otherwise: readable without colour
        shape = (
            f'<path class="mark" d="M{_f(x)} {_f(y - 7)}l7 7l-7 7l-7 -7Z" fill="{color}">'
            if m.severity == "critical"
            else f'<circle class="mark" cx="{_f(x)}" cy="{_f(y)}" r="5.5" fill="{color}">'
        )
        tag = "path" if m.severity == "critical" else "circle"
        body.append(
            f"{shape}<title>{S.clock(m.timestamp)} {e(m.severity)}: {e(m.message)}</title></{tag}>"
        )
    if not marks:
        body.append(_empty(plot, "No alert was raised"))
    legend = _legend([(s, c) for s, c in S.SEVERITY_COLORS.items()])
    return _figure(
        "Alerts over time",
        "One mark per alert, by type; colour gives the severity.",
        _svg("alerts", height, "Alerts on a timeline coloured by severity", "".join(body)),
        legend,
    )


def speech_chart(report: Report, end: float) -> str:
    """Who spoke when (the additive audio_analysis section), on the frames' time axis."""
    audio = report.extra.get("audio_analysis")
    audio = audio if isinstance(audio, dict) else {}
    segments = [s for s in audio.get("segments") or [] if isinstance(s, dict)]
    roles = [r for r in S.SPEECH_ROWS if any(s.get("role") == r for s in segments)]
    row_h = 26
    height = PAD_T + PAD_B + row_h * max(1, len(roles)) + 4
    plot = Plot(end, height)
    body = [plot.time_axis()]
    for i, role in enumerate(roles):
        y = PAD_T + row_h * i + row_h / 2
        body.append(
            f'<text class="rowlabel" x="{PAD_L + 4}" y="{_f(y)}" dy="-6">{S.SPEECH_ROWS[role]}</text>'
        )
        for seg in (s for s in segments if s.get("role") == role):
            a, b = S._num(seg.get("start")), S._num(seg.get("end"))
            if a is None or b is None:
                continue
            x0, x1 = plot.x(a), plot.x(b)
            body.append(
                f'<rect class="mark" x="{_f(x0)}" y="{_f(y - 4)}" width="{_f(max(x1 - x0, 1.0))}" '
                f'height="9" rx="2" fill="{S.SPEECH_COLORS[role]}"><title>{S.clock(a)}-{S.clock(b)} '
                f"{e(S.SPEECH_ROWS[role])}</title></rect>"
            )
    if not audio.get("analyzed"):
        body.append(_empty(plot, f"No audio analysed: {audio.get('reason') or 'no audio section'}"))
    elif not segments:
        body.append(_empty(plot, "No speech was heard"))
    facts = ""
    if audio.get("analyzed"):
        ratio = S._num(audio.get("speaking_ratio"))
        facts = (
            f' <span class="note">speaking {num(None if ratio is None else 100 * ratio, "%")}'
            f" of the audio · voices {num(audio.get('voice_count'))}"
            f" · voice tone {num(audio.get('voice_tone'))} · profile {e(audio.get('profile'))}</span>"
        )
    legend = _legend([(S.SPEECH_ROWS[r], c) for r, c in S.SPEECH_COLORS.items()], facts)
    return _figure(
        "Speech",
        "Who spoke when: the candidate's voice, another voice, or speech too short to tell.",
        _svg("speech", height, "Speech segments by voice on a timeline", "".join(body)),
        legend,
    )


def _figure(title: str, note: str, svg: str, legend: str) -> str:
    return (
        f'<figure class="card chartcard"><figcaption><h3>{e(title)}</h3><p class="note">{e(note)}</p>'
        f"</figcaption>{svg}{legend}</figure>"
    )


def score_ring(score) -> str:
    v = S._num(score)
    r = 52
    c = 2 * math.pi * r
    dash = 0.0 if v is None else c * min(max(v, 0.0), 100.0) / 100
    label = "—" if v is None else f"{v:.0f}"
    return (
        f'<svg class="ring {band_class(score)}" viewBox="0 0 128 128" role="img" aria-label="Overall score {label}">'
        f'<circle cx="64" cy="64" r="{r}" class="track"/>'
        f'<circle cx="64" cy="64" r="{r}" class="value" stroke-dasharray="{dash:.1f} {c:.1f}" '
        f'transform="rotate(-90 64 64)"/>'
        f'<text x="64" y="64" dy="9" text-anchor="middle" class="big">{label}</text>'
        f'<text x="64" y="86" text-anchor="middle" class="small">of 100</text></svg>'
    )


def score_bars(report: Report) -> str:
    out = []
    for name, v in S.score_rows(report):
        n = S._num(v)
        width = 0 if n is None else min(max(n, 0), 100)
        value = (
            num(v)
            if n is not None
            else (
                '<span class="na" title="No audio is analysed">n/a</span>'
                if name == "Voice tone"
                else "n/a"
            )
        )
        out.append(
            f'<div class="bar"><span class="name">{e(name)}</span><span class="track">'
            f'<span class="fill {band_class(v)}" style="width:{width:.0f}%"></span></span>'
            f'<span class="val">{value}</span></div>'
        )
    return "".join(out)


def emotion_bar(report: Report) -> str:
    summary = report.behavioral_analysis.emotion_summary
    summary = summary if isinstance(summary, dict) else {}
    vals = {k: S._num(summary.get(k)) or 0.0 for k in EMOTIONS}
    total = sum(vals.values())
    if total <= 0:
        return '<p class="note">No emotion was measured.</p>'
    segs = "".join(
        f'<span style="width:{100 * v / total:.2f}%;background:{S.EMOTION_COLORS[k]}" '
        f'title="{k.title()} {v:.1f}%"></span>'
        for k, v in vals.items()
        if v > 0
    )
    ranked = sorted(vals.items(), key=lambda kv: -kv[1])
    legend = "".join(
        f'<span><i style="background:{S.EMOTION_COLORS[k]}"></i>{k.title()} {v:.1f}%</span>'
        for k, v in ranked
        if v > 0
    )
    return f'<div class="stack">{segs}</div><div class="legend">{legend}</div>'


def _list(items, empty: str) -> str:
    items = [i for i in (items or []) if isinstance(i, str) and i.strip()]
    if not items:
        return f'<p class="note">{e(empty)}</p>'
    return "<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"


def verification_block(report: Report) -> str:
    v = report.face_verification_summary
    if not v.registered:
        return (
            '<p class="note">No face was registered for this session, so identity was not checked '
            "during the interview.</p>"
        )
    rate_cls = band_class(v.verification_rate)
    cells = [
        (
            "Verification rate",
            f'<b class="{rate_cls}">{num(v.verification_rate, "%", 1)}</b>',
        ),
        (
            "Checks",
            f"{num(v.successful_verifications)} of {num(v.total_verifications)} matched",
        ),
        ("Mismatches", num(v.total_mismatches)),
        ("Similarity avg", num(v.average_similarity, "", 1)),
        (
            "Similarity range",
            f"{num(v.min_similarity, '', 1)} – {num(v.max_similarity, '', 1)}",
        ),
    ]
    return (
        '<dl class="kv">'
        + "".join(f"<div><dt>{e(k)}</dt><dd>{val}</dd></div>" for k, val in cells)
        + "</dl>"
    )


def alert_table(report: Report) -> str:
    alerts = report.alert_history
    if not alerts:
        return '<p class="note">No alert was raised during the session.</p>'
    rows = []
    for a in alerts:
        sev = S.severity(a)
        t = S._num(a.timestamp)
        kind = str(a.type or "")
        rows.append(
            f'<tr><td class="t">{S.clock(t) if t is not None else "—"}</td>'
            f'<td><span class="chip {sev}">{e(sev)}</span></td>'
            f"<td>{e(S.alert_label(kind))}</td><td>{e(a.message)}</td></tr>"
        )
    return (
        '<table class="alerts"><thead><tr><th>Time</th><th>Severity</th><th>Type</th><th>Message</th></tr>'
        "</thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def severity_chips(report: Report) -> str:
    counts: dict[str, int] = {}
    for m in S.alert_marks(report):
        counts[m.severity] = counts.get(m.severity, 0) + 1
    if not counts:
        return '<span class="chip ok">no alerts</span>'
    return " ".join(
        f'<span class="chip {s}">{counts[s]} {e(s)}</span>'
        for s in sorted(counts, key=lambda s: S.SEVERITY_ORDER.get(s, 3))
    )


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f5f9;color:#0f172a;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:20px 20px 40px}
header.top{background:#0f172a;color:#e2e8f0;border-radius:12px;padding:18px 22px;display:flex;justify-content:space-between;gap:20px;flex-wrap:wrap}
header.top h1{margin:0 0 2px;font-size:24px;color:#fff}
header.top .kicker{text-transform:uppercase;letter-spacing:.08em;font-size:11px;color:#94a3b8}
header.top .job{color:#cbd5e1;font-size:15px}
header.top dl{display:grid;grid-template-columns:auto auto;gap:2px 14px;margin:0;font-size:13px}
header.top dt{color:#94a3b8}header.top dd{margin:0;color:#f8fafc;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.grid2{display:grid;grid-template-columns:300px 1fr;gap:16px;margin-top:16px}
.grid3{display:grid;grid-template-columns:repeat(3,1fr);gap:16px;margin-top:16px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:12px;padding:16px 18px;margin:0}
.card h2,.card h3{margin:0 0 8px;font-size:15px}
.note{color:#64748b;margin:0;font-size:12.5px}
.overall{display:flex;flex-direction:column;align-items:center;text-align:center;gap:6px}
.ring{width:150px;height:150px}
.ring .track{fill:none;stroke:#e2e8f0;stroke-width:12}
.ring .value{fill:none;stroke-width:12;stroke-linecap:round}
.ring.good .value{stroke:#16a34a}.ring.fair .value{stroke:#f59e0b}.ring.poor .value{stroke:#dc2626}.ring.na .value{stroke:#94a3b8}
.ring .big{font-size:34px;font-weight:700;fill:#0f172a}.ring .small{font-size:11px;fill:#64748b}
.band{font-weight:600}
.minis{display:grid;grid-template-columns:1fr 1fr;gap:8px;width:100%;margin-top:6px}
.mini{background:#f8fafc;border-radius:8px;padding:6px 8px}.mini b{display:block;font-size:18px}
.mini span{font-size:11px;color:#64748b}
.summary p.text{font-size:15px;margin:4px 0 10px}
.badge{display:inline-block;font-size:11px;border-radius:999px;padding:1px 8px;background:#e0e7ff;color:#3730a3;margin-left:6px;vertical-align:middle}
.badge.template{background:#f1f5f9;color:#475569}
.bars{margin-top:6px}
.bar{display:grid;grid-template-columns:130px 1fr 44px;align-items:center;gap:10px;margin:5px 0}
.bar .name{color:#334155}.bar .val{text-align:right;font-weight:600;font-variant-numeric:tabular-nums}
.bar .track{height:9px;background:#f1f5f9;border-radius:5px;overflow:hidden}
.bar .fill{display:block;height:100%;border-radius:5px}
.fill.good{background:#16a34a}.fill.fair{background:#f59e0b}.fill.poor{background:#dc2626}.fill.na{background:transparent}
b.good{color:#15803d}b.fair{color:#b45309}b.poor{color:#b91c1c}
.na{color:#94a3b8;font-weight:400}
ul{margin:0;padding-left:18px}li{margin:3px 0}
.strengths{border-top:4px solid #16a34a}.growth{border-top:4px solid #f59e0b}.recs{border-top:4px solid #2563eb}
.chartcard{margin-top:16px}
.chartcard figcaption{display:flex;align-items:baseline;gap:10px;flex-wrap:wrap}
svg.chart{display:block;width:100%;height:auto;margin-top:4px}
svg.chart .grid{stroke:#e2e8f0;stroke-width:1}
svg.chart .axis{stroke:#94a3b8;stroke-width:1}
svg.chart .tick{font-size:11px;fill:#64748b}
svg.chart .series{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
svg.chart .area{stroke:#fff;stroke-width:.4;opacity:.92}
svg.chart .threshold{stroke:#dc2626;stroke-width:1.5;stroke-dasharray:6 4}
svg.chart .thlabel{font-size:11px;fill:#dc2626}
svg.chart .below{fill:#fef2f2}
svg.chart .noface{fill:#e2e8f0;opacity:.7}
svg.chart .multiface{fill:#fee2e2;opacity:.9}
svg.chart .rowlabel{font-size:11px;fill:#334155}
svg.chart .mark{stroke:#fff;stroke-width:1.2}
svg.chart .empty{font-size:14px;fill:#94a3b8}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#475569;margin-top:6px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.legend i.sw.noface{background:#e2e8f0}.legend i.sw.multiface{background:#fecaca}
.legend i.sw.dash{height:0;border-top:2px dashed #dc2626;border-radius:0;vertical-align:3px}
.stack{display:flex;height:16px;border-radius:6px;overflow:hidden;margin:8px 0 2px}
.kv{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin:6px 0 0}
.kv div{background:#f8fafc;border-radius:8px;padding:8px 10px}
.kv dt{font-size:11px;color:#64748b}.kv dd{margin:2px 0 0;font-size:16px;font-weight:600;font-variant-numeric:tabular-nums}
table.alerts{width:100%;border-collapse:collapse;font-size:13px}
table.alerts th{text-align:left;color:#64748b;font-weight:600;border-bottom:1px solid #e2e8f0;padding:6px 8px}
table.alerts td{border-bottom:1px solid #f1f5f9;padding:6px 8px;vertical-align:top}
table.alerts td.t{font-variant-numeric:tabular-nums;white-space:nowrap}
.chip{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600}
.chip.critical{background:#fee2e2;color:#b91c1c}.chip.warning{background:#fef3c7;color:#92400e}
.chip.info{background:#dbeafe;color:#1e40af}.chip.ok{background:#dcfce7;color:#166534}
footer{color:#64748b;font-size:12px;margin-top:18px}
section h2.section{font-size:13px;text-transform:uppercase;letter-spacing:.07em;color:#475569;margin:26px 0 0}
@media (max-width:820px){.grid2,.grid3{grid-template-columns:1fr}.kv{grid-template-columns:1fr 1fr}}
@media print{body{background:#fff}main{padding:0}.card{break-inside:avoid;border-color:#cbd5e1}header.top{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def render_report_html(report: Report | dict) -> str:
    """The page of a report (typed, or a stored body of any version)."""
    report = S.as_report(report)
    summary, ai, meta = report.session_summary, report.ai_summary, S.metadata(report)
    insights, overall = report.video_analysis_insights, report.overall_behavior_analysis
    body_lang, culture = report.body_language_analysis, report.cultural_fit_analysis
    tokens, ver = report.token_consumption, report.face_verification_summary
    candidate, score, end = S.candidate(report), report.score, S.time_domain(report)
    job = " · ".join(e(v) for v in S.job_parts(report))
    source = "AI summary (local model)" if meta.get("llm_enhanced") else "Summary (rule template)"
    badge_cls = "" if meta.get("llm_enhanced") else " template"
    summary_text = ai.summary or "No summary was written for this session."
    heard = report.extra.get("audio_analysis")
    voice_note = (
        "Voice tone: prosody of the candidate's own speech."
        if isinstance(heard, dict) and heard.get("analyzed")
        else "Voice tone is not assessed: no audio was analysed."
    )

    header = f"""
<header class="top">
  <div>
    <div class="kicker">Interview proctoring report</div>
    <h1>{e(candidate)}</h1>
    <div class="job">{job or '<span class="na">No job details given</span>'}</div>
  </div>
  <dl>
    <dt>Started</dt><dd>{when(summary.start_time)}</dd>
    <dt>Ended</dt><dd>{when(summary.end_time)}</dd>
    <dt>Duration</dt><dd>{S.clock(S._num(summary.duration_seconds) or 0)}</dd>
    <dt>Frames</dt><dd>{num(summary.frames_analyzed)} analysed of {num(summary.total_frames_received)}</dd>
    <dt>Session</dt><dd class="mono">{e(report.session_id)}</dd>
  </dl>
</header>"""

    top = f"""
<div class="grid2">
  <section class="card overall">
    <h2>Overall video score</h2>
    {score_ring(score)}
    <div class="band">{e(overall.summary)}</div>
    <div class="minis">
      <div class="mini"><b>{num(body_lang.overallAveragePercentage, "%")}</b><span>Body language</span></div>
      <div class="mini"><b>{num(ver.verification_rate, "%", 1) if ver.registered else "—"}</b>
        <span>Identity verified</span></div>
      <div class="mini"><b>{num(summary.total_alerts)}</b><span>Alerts</span></div>
      <div class="mini"><b>{num(culture.overallAveragePercentage, "%", none="n/a")}</b>
        <span>Cultural fit</span></div>
    </div>
    <div>{severity_chips(report)}</div>
  </section>
  <section class="card summary">
    <h2>Summary <span class="badge{badge_cls}">{e(source)}</span></h2>
    <p class="text">{e(summary_text)}</p>
    <h3>Scores</h3>
    <div class="bars">{score_bars(report)}</div>
    <p class="note">Session means over frames with a face. {e(voice_note)} {e(culture.summary)}</p>
  </section>
</div>"""

    lists = f"""
<div class="grid3">
  <section class="card strengths"><h3>Strengths</h3>{
        _list(
            ai.keyStrengths or insights.positive_indicators,
            "No score reached the strength band (75).",
        )
    }</section>
  <section class="card growth"><h3>Areas of growth</h3>{
        _list(ai.areasOfGrowth or insights.areas_for_improvement, "Nothing stood out.")
    }</section>
  <section class="card recs"><h3>Recommendations</h3>{
        _list(insights.recommendations, "None.")
    }</section>
</div>"""

    charts = (
        metrics_chart(report, end)
        + similarity_chart(report, end)
        + emotion_chart(report, end)
        + alert_chart(report, end)
        + speech_chart(report, end)
    )

    details = f"""
<section class="card chartcard"><h3>Face verification</h3>{verification_block(report)}</section>
<section class="card chartcard"><h3>Emotions over the session</h3>{emotion_bar(report)}</section>
<section class="card chartcard"><h3>Alerts ({num(summary.total_alerts)})</h3>{alert_table(report)}</section>"""

    model = meta.get("llm_model")
    footer = (
        f"<footer>Generated by proctor from the stored report. Summary source: {e(meta.get('summary_source') or ('llm' if meta.get('llm_enhanced') else 'template'))}"
        f"{' · model ' + e(model) if model else ''} · provider {e(meta.get('llm_provider'))}"
        f" · tokens {num(tokens.total_tokens_consumed)}. Times on the charts are minutes:seconds"
        f" from the session start.</footer>"
    )

    title = f"Proctoring report: {candidate}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="referrer" content="no-referrer">
<title>{e(title)}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<main>
{header}
{top}
{lists}
<section><h2 class="section">Timeline</h2>
{charts}
</section>
<section><h2 class="section">Details</h2>
{details}
</section>
{footer}
</main>
</body>
</html>
"""
