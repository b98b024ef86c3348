"""Small inline-SVG charts and an HTML page around them, for reports that open without network.

Only what the operations report needs: grouped bars and lines over labelled x positions. Values
are escaped; ``None`` is drawn as a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 720, 260, 56, 16, 28, 64


def _scale(series: Mapping[str, Sequence[float | None]]) -> float:
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=0.0)
    return top if top > 0 else 1.0


def _frame(title: str, labels: Sequence[str], top: float, unit: str) -> list[str]:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{PAD_L}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        y = PAD_T + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{top * i / 4:.3g}{escape(unit)}</text>"
        )
    step = (W - PAD_L - PAD_R) / max(len(labels), 1)
    every = max(1, len(labels) // 24)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_L + step * (i + 0.5)
            out.append(
                f'<text x="{x:.1f}" y="{H - PAD_B + 12}" font-size="9" text-anchor="end" '
                f'transform="rotate(-35 {x:.1f} {H - PAD_B + 12})">{escape(label)}</text>'
            )
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        x = W - PAD_R - 130 * (len(names) - i)
        out.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="15" font-size="10">{escape(name)}</text>'
        )
    return out


def bar_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str = ""
) -> str:
    """Grouped bars: one group per label, one bar per series."""
    top = _scale(series)
    out = _frame(title, labels, top, unit)
    plot_h = H - PAD_T - PAD_B
    step = (W - PAD_L - PAD_R) / max(len(labels), 1)
    width = step * 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for i, v in enumerate(values):
            if v is None:
                continue
            h = plot_h * v / top
            x = PAD_L + step * i + step * 0.1 + width * s
            out.append(
                f'<rect x="{x:.1f}" y="{PAD_T + plot_h - h:.1f}" width="{width:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} {escape(labels[i])}: '
                f"{v:.4g}</title></rect>"
            )
    return "\n".join([*out, *_legend(list(series)), "</svg>"])


def line_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str = ""
) -> str:
    """One polyline per series over the labels (gaps where a value is None)."""
    top = _scale(series)
    out = _frame(title, labels, top, unit)
    plot_h = H - PAD_T - PAD_B
    step = (W - PAD_L - PAD_R) / max(len(labels), 1)
    for s, (name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{PAD_L + step * (i + 0.5):.1f},{PAD_T + plot_h * (1 - v / top):.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                out.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"><title>{escape(name)}</title></polyline>'
                )
    return "\n".join([*out, *_legend(list(series)), "</svg>"])


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of the rows (floats to four significant digits)."""
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(columns or rows[0].keys())

    def cell(v: object) -> str:
        if v is None:
            return ""
        return f"{v:.4g}" if isinstance(v, float) else escape(str(v))

    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained HTML page: a heading per section, its HTML (charts, tables) below."""
    parts = "".join(f"<section><h2>{escape(h)}</h2>{body}</section>" for h, body in sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:980px}"
        "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#f4f4f4}section{margin-bottom:2em}"
        f"</style></head><body><h1>{escape(title)}</h1>{parts}</body></html>"
    )
