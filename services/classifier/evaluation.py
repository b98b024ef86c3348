"""Evaluation of the classifier's scores against labelled rows: the ``evaluate`` command.

Precision, recall and F1 per label, ROC-AUC and PR-AUC per area, the reliability table with its
expected calibration error, the Brier score and the confusion matrix; as text or an HTML page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.classifier.signals.text_models import NEGATIVE_LABEL
from services.classifier.training import DECISION_THRESHOLD, NEUTRAL_AREA, Row
from shared.events import Classification
from shared.taxonomy import PolicyArea


def predicted_label(c: Classification, threshold: float = DECISION_THRESHOLD) -> str:
    if c.top_score >= threshold and c.top_policy_area is not NEUTRAL_AREA:
        return c.top_policy_area.value
    return NEGATIVE_LABEL


@dataclass(frozen=True, slots=True)
class AreaMetrics:
    """One labelled area, its score against "labelled this area" over every report."""

    roc_auc: float  # nan when the set holds only one class for the area
    pr_auc: float  # average precision
    reliability: list[tuple[float, float, int, float, float]]  # lo, hi, n, mean p, observed


@dataclass(frozen=True, slots=True)
class Evaluation:
    per_label: dict[str, tuple[float, float, float, int]]  # precision, recall, f1, support
    reliability: list[tuple[float, float, int, float, float]]  # lo, hi, n, mean p, observed
    accuracy: float
    brier: float
    ece: float
    areas: dict[str, AreaMetrics]
    confusion: dict[str, dict[str, int]]  # true label -> predicted label -> count
    rows: int


def _reliability(
    pairs: Sequence[tuple[float, bool]], bins: int
) -> tuple[list[tuple[float, float, int, float, float]], float]:
    table = []
    ece = 0.0
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (i == bins - 1 and p == 1.0)]
        if not inside:
            table.append((lo, hi, 0, math.nan, math.nan))
            continue
        mean_p = sum(p for p, _ in inside) / len(inside)
        observed = sum(1 for _, y in inside if y) / len(inside)
        ece += len(inside) / len(pairs) * abs(mean_p - observed)
        table.append((lo, hi, len(inside), mean_p, observed))
    return table, ece


def evaluate_classifications(
    results: Sequence[Classification], rows: Sequence[Row], bins: int = 10
) -> Evaluation:
    from sklearn.metrics import average_precision_score, roc_auc_score

    predicted = [predicted_label(c) for c in results]
    labels = sorted({r.label for r in rows} | set(predicted))
    per_label = {}
    for label in labels:
        tp = sum(1 for p, r in zip(predicted, rows, strict=True) if p == label and r.label == label)
        fp = sum(1 for p, r in zip(predicted, rows, strict=True) if p == label and r.label != label)
        fn = sum(1 for p, r in zip(predicted, rows, strict=True) if p != label and r.label == label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = (precision, recall, f1, tp + fn)
    # Reliability over every (report, labelled area) pair: is a score of p right p of the time?
    areas = [PolicyArea(x) for x in labels if x != NEGATIVE_LABEL]
    pairs = [
        (c.scores.get(a, 0.0), r.label == a.value)
        for c, r in zip(results, rows, strict=True)
        for a in areas
    ]
    table, ece = _reliability(pairs, bins)
    per_area: dict[str, AreaMetrics] = {}
    for a in areas:
        ys = [r.label == a.value for r in rows]
        ps = [c.scores.get(a, 0.0) for c in results]
        both = 0 < sum(ys) < len(ys)
        per_area[a.value] = AreaMetrics(
            float(roc_auc_score(ys, ps)) if both else math.nan,
            float(average_precision_score(ys, ps)) if any(ys) else math.nan,
            _reliability(list(zip(ps, ys, strict=True)), bins)[0],
        )
    confusion: dict[str, dict[str, int]] = {}
    for p, r in zip(predicted, rows, strict=True):
        confusion.setdefault(r.label, {}).setdefault(p, 0)
        confusion[r.label][p] += 1
    accuracy = sum(1 for p, r in zip(predicted, rows, strict=True) if p == r.label) / len(rows)
    brier = sum((p - y) ** 2 for p, y in pairs) / len(pairs) if pairs else 0.0
    return Evaluation(per_label, table, accuracy, brier, ece, per_area, confusion, len(rows))


def evaluate_by_source(
    results: Sequence[Classification], rows: Sequence[Row]
) -> dict[str, Evaluation]:
    """The evaluation of all rows (key ``all``) and of each source's rows."""
    out = {"all": evaluate_classifications(results, rows)}
    for source in sorted({r.source for r in rows if r.source}):
        picked = [(c, r) for c, r in zip(results, rows, strict=True) if r.source == source]
        out[source] = evaluate_classifications([c for c, _ in picked], [r for _, r in picked])
    return out


def _f(x: float, digits: int = 3) -> str:
    return "-" if math.isnan(x) else f"{x:.{digits}f}"


def format_evaluation(ev: Evaluation) -> str:
    lines = [f"{'category':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, (p, r, f1, n) in ev.per_label.items():
        lines.append(f"{label:<22}{p:>10.3f}{r:>10.3f}{f1:>10.3f}{n:>10d}")
    lines += ["", f"{'area':<22}{'ROC-AUC':>10}{'PR-AUC':>10}"]
    for area, m in ev.areas.items():
        lines.append(f"{area:<22}{_f(m.roc_auc):>10}{_f(m.pr_auc):>10}")
    lines += ["", f"accuracy {ev.accuracy:.3f}  brier {ev.brier:.4f}  ECE {ev.ece:.4f}", ""]
    predicted = sorted({p for row in ev.confusion.values() for p in row})
    lines.append("confusion (rows: label, columns: predicted)")
    lines.append(f"{'':<22}" + "".join(f"{p[:9]:>10}" for p in predicted))
    for label, row in sorted(ev.confusion.items()):
        lines.append(f"{label:<22}" + "".join(f"{row.get(p, 0):>10d}" for p in predicted))
    lines += ["", f"{'score bin':<14}{'pairs':>8}{'mean score':>12}{'observed':>10}"]
    for lo, hi, n, mean_p, obs in ev.reliability:
        shown = f"{mean_p:>12.3f}{obs:>10.3f}" if n else f"{'-':>12}{'-':>10}"
        lines.append(f"[{lo:.1f}, {hi:.1f}){'':<4}{n:>8d}{shown}")
    return "\n".join(lines)


def _svg_reliability(table: Sequence[tuple[float, float, int, float, float]]) -> str:
    # A 200 x 200 plot: the diagonal is perfect calibration, dots are the bins (area ~ count).
    size = 200
    dots = []
    total = sum(n for _, _, n, _, _ in table) or 1
    for _, _, n, mean_p, obs in table:
        if n:
            r = 2 + 8 * math.sqrt(n / total)
            dots.append(
                f'<circle cx="{mean_p * size:.1f}" cy="{(1 - obs) * size:.1f}" r="{r:.1f}" '
                f'fill="#1f77b4" fill-opacity="0.7"><title>{n} pairs: mean score '
                f"{mean_p:.3f}, observed {obs:.3f}</title></circle>"
            )
    return (
        f'<svg width="{size}" height="{size}" viewBox="-5 -5 {size + 10} {size + 10}" '
        'style="border:1px solid #ccc">'
        f'<line x1="0" y1="{size}" x2="{size}" y2="0" stroke="#999" stroke-dasharray="4"/>'
        + "".join(dots)
        + "</svg>"
    )


def evaluation_html(results: dict[str, Evaluation], title: str) -> str:
    """A self-contained HTML report of ``evaluate_by_source``: metrics per category and area,
    confusion matrices and a reliability curve per area, for all rows and per source."""
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}figure{display:inline-block;"
        "margin:0 1em 1em 0}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<p>Reliability: x = mean score of a bin, y = observed share of reports labelled with "
        "the area; the dashed diagonal is perfect calibration.</p>",
    ]
    for source, ev in results.items():
        parts.append(f"<h2>{esc(source)} ({ev.rows} reports)</h2>")
        parts.append(
            f"<p>accuracy {ev.accuracy:.3f}, Brier {ev.brier:.4f}, ECE {ev.ece:.4f}</p>"
            "<table><tr><th>category</th><th>precision</th><th>recall</th><th>F1</th>"
            "<th>support</th><th>ROC-AUC</th><th>PR-AUC</th></tr>"
        )
        for label, (p, r, f1, n) in ev.per_label.items():
            m = ev.areas.get(label)
            auc = (_f(m.roc_auc), _f(m.pr_auc)) if m else ("", "")
            parts.append(
                f"<tr><td>{esc(label)}</td><td>{p:.3f}</td><td>{r:.3f}</td><td>{f1:.3f}</td>"
                f"<td>{n}</td><td>{auc[0]}</td><td>{auc[1]}</td></tr>"
            )
        parts.append("</table>")
        predicted = sorted({p for row in ev.confusion.values() for p in row})
        parts.append("<table><tr><th>label \\ predicted</th>")
        parts += [f"<th>{esc(p)}</th>" for p in predicted]
        parts.append("</tr>")
        for label, row in sorted(ev.confusion.items()):
            cells = "".join(f"<td>{row.get(p, 0)}</td>" for p in predicted)
            parts.append(f"<tr><td>{esc(label)}</td>{cells}</tr>")
        parts.append("</table>")
        for area, m in ev.areas.items():
            parts.append(
                f"<figure>{_svg_reliability(m.reliability)}"
                f"<figcaption>{esc(area)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
