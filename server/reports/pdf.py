"""The stored report as a PDF, drawn by fpdf2 (pure Python: no browser, no system library).

Same numbers and the same four time charts as the HTML view, as simple vector
drawings.  Text uses DejaVu Sans when the machine has it (any script a candidate's
name is written in); otherwise the PDF core font, with characters it lacks replaced.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from ..proctoring.observation import EMOTIONS
from ..proctoring.report_sections import Report
from . import series as S

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
PAGE_W = 210.0
MARGIN = 14.0
CONTENT_W = PAGE_W - 2 * MARGIN
AXIS_L = 10.0  # room for the y labels inside a chart box
MAX_ALERT_ROWS = 300


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _font_file(name: str) -> Path | None:
    dirs = list(FONT_DIRS)
    try:  # matplotlib (a mediapipe dependency) ships DejaVu too
        import matplotlib

        dirs.append(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf")
    except Exception:
        pass
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None


_fmt = S.number


def _when(iso: str | None) -> str:
    return S.utc_time(iso) or str(iso or "-")


def _band_color(v) -> tuple[int, int, int]:
    n = S._num(v)
    if n is None:
        return _rgb("#94a3b8")
    return _rgb("#16a34a" if n >= 75 else "#f59e0b" if n >= 60 else "#dc2626")


class ReportPDF(FPDF):
    def __init__(self):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN)
        regular, bold = _font_file("DejaVuSans.ttf"), _font_file("DejaVuSans-Bold.ttf")
        if regular and bold:
            self.add_font("body", "", str(regular))
            self.add_font("body", "B", str(bold))
            self.family_name, self.unicode_ok = "body", True
        else:
            self.family_name, self.unicode_ok = "helvetica", False

    def txt(self, s) -> str:
        s = "" if s is None else str(s)
        if self.unicode_ok:
            return s
        s = s.replace("\u2013", "-").replace("\u2014", "-").replace("\u00b7", "-")
        return s.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False, color: str = "#0f172a"):
        self.set_font(self.family_name, "B" if bold else "", size)
        self.set_text_color(*_rgb(color))

    def footer(self):
        self.set_y(-10)
        self.font(7.5, color="#64748b")
        self.cell(0, 4, self.txt(f"proctor report - page {self.page_no()}"), align="R")

    def heading(self, text: str):
        if self.get_y() > 270:
            self.add_page()
        self.ln(3)
        self.font(11, bold=True)
        self.cell(0, 6, self.txt(text), new_x="LMARGIN", new_y="NEXT")

    def para(self, text: str, size: float = 9.5, color: str = "#0f172a"):
        self.font(size, color=color)
        self.multi_cell(CONTENT_W, size * 0.48, self.txt(text), new_x="LMARGIN", new_y="NEXT")

    def bullets(self, items, empty: str):
        items = [i for i in (items or []) if isinstance(i, str) and i.strip()] or [empty]
        self.font(9)
        for item in items:
            self.set_x(MARGIN + 2)
            self.multi_cell(
                CONTENT_W - 2, 4.4, self.txt(f"- {item}"), new_x="LMARGIN", new_y="NEXT"
            )

    # --- charts ----------------------------------------------------------------------------
    def chart_box(self, title: str, height: float, end: float, y_ticks=(0, 50, 100)):
        """Draw a titled frame with axes; returns (x(t), y(v), top, bottom) for the plot area."""
        if self.get_y() + height + 14 > 297 - MARGIN:
            self.add_page()
        self.font(9.5, bold=True)
        self.cell(0, 5, self.txt(title), new_x="LMARGIN", new_y="NEXT")
        top = self.get_y() + 1
        left, right, bottom = MARGIN + AXIS_L, MARGIN + CONTENT_W, top + height

        def x(t: float) -> float:
            return left + (right - left) * min(max(t, 0.0), end) / end

        def y(v: float) -> float:
            return bottom - (bottom - top) * min(max(v, 0.0), 100.0) / 100.0

        self.set_line_width(0.15)
        self.font(6.5, color="#64748b")
        for v in y_ticks:
            self.set_draw_color(*_rgb("#e2e8f0"))
            self.line(left, y(v), right, y(v))
            self.text(MARGIN + 1, y(v) + 1, f"{v:g}")
        self.set_draw_color(*_rgb("#94a3b8"))
        self.line(left, bottom, right, bottom)
        for t in S.nice_ticks(end):
            self.line(x(t), bottom, x(t), bottom + 1)
            label = S.clock(t)
            self.text(x(t) - self.get_string_width(label) / 2, bottom + 3.8, label)
        self.set_y(bottom + 5)
        return x, y, top, bottom

    def legend(self, items: list[tuple[str, str]]):
        self.font(7, color="#475569")
        xpos = MARGIN + AXIS_L
        y = self.get_y() + 1
        for name, color in items:
            self.set_fill_color(*_rgb(color))
            self.rect(xpos, y, 2.6, 2.6, style="F")
            self.text(xpos + 3.6, y + 2.3, self.txt(name))
            xpos += 3.6 + self.get_string_width(self.txt(name)) + 5
        self.set_y(y + 5)

    def polyline_runs(self, pts: list[S.Point], x, y, color: str, width: float = 0.45):
        self.set_draw_color(*_rgb(color))
        self.set_fill_color(*_rgb(color))
        self.set_line_width(width)
        run: list[tuple[float, float]] = []
        for t, v in pts + [(0.0, None)]:
            if v is not None:
                run.append((x(t), y(v)))
                continue
            if len(run) == 1:
                self.circle(run[0][0], run[0][1], 0.6, style="F")
            elif run:
                self.polyline(run)
            run = []


def render_report_pdf(report: Report | dict) -> bytes:
    """The PDF of a report (typed, or a stored body of any version)."""
    report = S.as_report(report)
    pdf = ReportPDF()
    pdf.set_title("Interview proctoring report")
    pdf.set_creator("proctor")
    pdf.add_page()
    summary, ai, meta = report.session_summary, report.ai_summary, S.metadata(report)
    insights, overall = report.video_analysis_insights, report.overall_behavior_analysis
    ver, end = report.face_verification_summary, S.time_domain(report)

    # header
    pdf.font(8, color="#64748b")
    pdf.cell(0, 4, "INTERVIEW PROCTORING REPORT", new_x="LMARGIN", new_y="NEXT")
    pdf.font(18, bold=True)
    pdf.cell(0, 9, pdf.txt(S.candidate(report)), new_x="LMARGIN", new_y="NEXT")
    job = " - ".join(S.job_parts(report))
    if job:
        pdf.para(job, 10, "#334155")
    pdf.para(
        f"Started {_when(summary.start_time)}  |  Ended {_when(summary.end_time)}  |  "
        f"Duration {S.clock(S._num(summary.duration_seconds) or 0)}  |  "
        f"Frames {_fmt(summary.frames_analyzed)} analysed of {_fmt(summary.total_frames_received)}",
        8.5,
        "#475569",
    )
    pdf.para(f"Session {report.session_id or '-'}", 7.5, "#64748b")

    # score line
    pdf.ln(2)
    score = report.score
    y0 = pdf.get_y()
    pdf.set_fill_color(*_band_color(score))
    pdf.rect(MARGIN, y0, 30, 18, style="F")
    pdf.set_xy(MARGIN, y0 + 2)
    pdf.font(20, bold=True, color="#ffffff")
    pdf.cell(30, 9, _fmt(score), align="C")
    pdf.set_xy(MARGIN, y0 + 11)
    pdf.font(7, color="#ffffff")
    pdf.cell(30, 4, "overall of 100", align="C")
    minis = [
        ("Body language", _fmt(report.body_language_analysis.overallAveragePercentage, "%")),
        (
            "Identity verified",
            _fmt(ver.verification_rate, "%", 1) if ver.registered else "-",
        ),
        ("Alerts", _fmt(summary.total_alerts)),
        (
            "Cultural fit",
            _fmt(report.cultural_fit_analysis.overallAveragePercentage, "%", none="n/a"),
        ),
    ]
    for i, (name, value) in enumerate(minis):
        x = MARGIN + 34 + i * 37
        pdf.set_fill_color(*_rgb("#f1f5f9"))
        pdf.rect(x, y0, 34, 18, style="F")
        pdf.set_xy(x, y0 + 2)
        pdf.font(13, bold=True)
        pdf.cell(34, 7, pdf.txt(value), align="C")
        pdf.set_xy(x, y0 + 10)
        pdf.font(7.5, color="#64748b")
        pdf.cell(34, 4, pdf.txt(name), align="C")
    pdf.set_xy(MARGIN, y0 + 21)
    pdf.para(overall.summary or "", 9, "#334155")

    pdf.heading("AI summary" if meta.get("llm_enhanced") else "Summary (rule template)")
    pdf.para(ai.summary or "No summary was written for this session.")

    # scores as bars
    pdf.heading("Scores (session means over frames with a face)")
    for name, v in S.score_rows(report, no_audio_label="Voice tone (no audio)"):
        y = pdf.get_y()
        pdf.font(8.5, color="#334155")
        pdf.text(MARGIN, y + 3, pdf.txt(name))
        pdf.set_fill_color(*_rgb("#f1f5f9"))
        pdf.rect(MARGIN + 40, y + 0.8, 120, 2.8, style="F")
        n = S._num(v)
        if n is not None:
            pdf.set_fill_color(*_band_color(n))
            pdf.rect(MARGIN + 40, y + 0.8, 120 * min(max(n, 0), 100) / 100, 2.8, style="F")
        pdf.font(8.5, bold=True)
        pdf.text(MARGIN + 164, y + 3, _fmt(v, none="n/a"))
        pdf.set_y(y + 5)

    for title, items, empty in (
        ("Strengths", ai.keyStrengths, "No score reached the strength band (75)."),
        ("Areas of growth", ai.areasOfGrowth, "Nothing stood out."),
        ("Recommendations", insights.recommendations, "None."),
    ):
        pdf.heading(title)
        pdf.bullets(items, empty)

    # charts
    pdf.add_page()
    x, y, top, bottom = pdf.chart_box(
        "Live metrics over time (0-100; gaps: no face)", 42, end, (0, 25, 50, 75, 100)
    )
    for t0, t1, n in S.face_count_spans(report, end):
        pdf.set_fill_color(*_rgb("#e2e8f0" if n == 0 else "#fee2e2"))
        pdf.rect(x(t0), top, max(0.4, x(t1) - x(t0)), bottom - top, style="F")
    for key, pts in S.metric_series(report).items():
        pdf.polyline_runs(pts, x, y, S.METRIC_COLORS[key])
    pdf.legend(
        [(S.METRIC_LABELS[k], S.METRIC_COLORS[k]) for k in S.METRICS]
        + [("no face", "#e2e8f0"), ("several faces", "#fecaca")]
    )

    x, y, top, bottom = pdf.chart_box(
        "Identity verification: similarity to the registered face", 34, end
    )
    threshold = S.verification_threshold(report)
    if threshold is not None:
        pdf.set_draw_color(*_rgb("#dc2626"))
        pdf.set_line_width(0.3)
        with pdf.local_context():
            pdf.set_dash_pattern(dash=1.5, gap=1)
            pdf.line(x(0), y(threshold), x(end), y(threshold))
    pdf.polyline_runs(S.similarity_series(report), x, y, "#0f172a")
    pdf.legend(
        [
            ("similarity", "#0f172a"),
            (
                f"threshold {threshold:g}" if threshold is not None else "no face registered",
                "#dc2626",
            ),
        ]
    )

    x, y, top, bottom = pdf.chart_box(
        "Emotions over time (share of each emotion, stacked to 100%)", 36, end
    )
    shares = S.emotion_shares(report)
    if len(shares) >= 2:
        lower = [0.0] * len(shares)
        for k in EMOTIONS:
            upper = [lo + sh[k] for lo, (_, sh) in zip(lower, shares, strict=False)]
            if max(u - lo for u, lo in zip(upper, lower, strict=False)) > 0:
                poly = [(x(t), y(u)) for (t, _), u in zip(shares, upper, strict=False)]
                poly += [
                    (x(t), y(lo)) for (t, _), lo in reversed(list(zip(shares, lower, strict=False)))
                ]
                pdf.set_fill_color(*_rgb(S.EMOTION_COLORS[k]))
                pdf.polygon(poly, style="F")
            lower = upper
    elif shares:
        t, sh = shares[0]
        base = 0.0
        for k in EMOTIONS:
            pdf.set_fill_color(*_rgb(S.EMOTION_COLORS[k]))
            pdf.rect(x(t) - 1, y(base + sh[k]), 2, y(base) - y(base + sh[k]), style="F")
            base += sh[k]
    pdf.legend([(k.title(), S.EMOTION_COLORS[k]) for k in EMOTIONS])

    marks = S.alert_marks(report)
    rows = S.alert_rows(marks)
    x, y, top, bottom = pdf.chart_box(
        "Alerts over time (by type; colour = severity)", 5 * max(1, len(rows)) + 4, end, ()
    )
    for i, kind in enumerate(rows):
        ry = top + 4 + 5 * i
        pdf.set_draw_color(*_rgb("#e2e8f0"))
        pdf.line(x(0), ry, x(end), ry)
        pdf.font(6.5, color="#334155")
        pdf.text(x(0) + 1, ry - 1.2, pdf.txt(S.alert_label(kind)))
        for m in (m for m in marks if m.type == kind):
            pdf.set_fill_color(*_rgb(S.SEVERITY_COLORS[m.severity]))
            pdf.circle(x(m.timestamp), ry, 0.9, style="F")
    pdf.legend(list(S.SEVERITY_COLORS.items()))

    # who spoke when (the additive audio_analysis section, docs/audio.md)
    audio = report.extra.get("audio_analysis")
    audio = audio if isinstance(audio, dict) else {}
    segments = [g for g in audio.get("segments") or [] if isinstance(g, dict)]
    speech_rows = [r for r in S.SPEECH_ROWS if any(g.get("role") == r for g in segments)]
    x, y, top, bottom = pdf.chart_box(
        "Speech (who spoke when)", 5 * max(1, len(speech_rows)) + 4, end, ()
    )
    for i, role in enumerate(speech_rows):
        ry = top + 4 + 5 * i
        pdf.font(6.5, color="#334155")
        pdf.text(x(0) + 1, ry - 1.2, pdf.txt(S.SPEECH_ROWS[role]))
        pdf.set_fill_color(*_rgb(S.SPEECH_COLORS[role]))
        for g in (g for g in segments if g.get("role") == role):
            g0, g1 = S._num(g.get("start")), S._num(g.get("end"))
            if g0 is not None and g1 is not None:
                pdf.rect(x(g0), ry - 0.8, max(x(g1) - x(g0), 0.3), 1.6, style="F")
    pdf.legend([(S.SPEECH_ROWS[r], c) for r, c in S.SPEECH_COLORS.items()])
    if audio.get("analyzed"):
        ratio = S._num(audio.get("speaking_ratio"))
        pdf.para(
            f"Speaking {_fmt(None if ratio is None else 100 * ratio, '%')} of "
            f"{_fmt(audio.get('audio_seconds'), ' s')} of audio; voices heard "
            f"{_fmt(audio.get('voice_count'))} (another voice {_fmt(audio.get('other_voice_seconds'), ' s')}); "
            f"voice tone {_fmt(audio.get('voice_tone'), none='n/a')}; profile {audio.get('profile')}.",
            8.5,
        )
    else:
        pdf.para(f"No audio analysed: {audio.get('reason') or 'no audio section'}.", 8.5)

    # verification and alert table
    pdf.heading("Face verification")
    if ver.registered:
        pdf.para(
            f"Verification rate {_fmt(ver.verification_rate, '%', 1)}: "
            f"{_fmt(ver.successful_verifications)} of {_fmt(ver.total_verifications)} checks matched, "
            f"{_fmt(ver.total_mismatches)} mismatches. Similarity average "
            f"{_fmt(ver.average_similarity, '', 1)}, range {_fmt(ver.min_similarity, '', 1)} to "
            f"{_fmt(ver.max_similarity, '', 1)}.",
            9,
        )
    else:
        pdf.para("No face was registered for this session, so identity was not checked.", 9)

    alerts = report.alert_history
    pdf.heading(f"Alerts ({len(alerts)})")
    if not alerts:
        pdf.para("No alert was raised during the session.", 9)
    for a in alerts[:MAX_ALERT_ROWS]:
        if pdf.get_y() > 297 - MARGIN - 8:
            pdf.add_page()
        sev = S.severity(a)
        at = S._num(a.timestamp)
        yy = pdf.get_y()
        pdf.font(8, color="#334155")
        pdf.text(MARGIN, yy + 3, S.clock(at) if at is not None else "-")
        pdf.set_fill_color(*_rgb(S.SEVERITY_COLORS[sev]))
        pdf.circle(MARGIN + 13, yy + 2.1, 0.9, style="F")
        pdf.text(MARGIN + 16, yy + 3, pdf.txt(sev))
        pdf.set_xy(MARGIN + 34, yy)
        pdf.multi_cell(
            CONTENT_W - 34,
            4,
            pdf.txt(f"{S.alert_label(str(a.type))}: {a.message or ''}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    if len(alerts) > MAX_ALERT_ROWS:
        pdf.para(
            f"... and {len(alerts) - MAX_ALERT_ROWS} more (see the JSON report).", 8, "#64748b"
        )

    pdf.ln(2)
    pdf.para(
        f"Summary source: {meta.get('summary_source') or ('llm' if meta.get('llm_enhanced') else 'template')}"
        f"; provider {meta.get('llm_provider')}. Times are minutes:seconds from the session start.",
        7.5,
        "#64748b",
    )
    return bytes(pdf.output())
