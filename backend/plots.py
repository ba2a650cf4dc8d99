"""A learning-curve picture (dev F1 against annotated tasks) as a small self-contained SVG."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 480, 300, 48


def _scale(value: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    if hi <= lo:
        return (out_lo + out_hi) / 2
    return out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def learning_curve_svg(points: list[tuple[int, float]], title: str) -> str:
    """Micro-F1 (0-1, y) against annotations used (x), one dot per scored training."""
    points = sorted(points)
    x_hi = max([n for n, _ in points], default=1)
    x_lo = min([n for n, _ in points], default=0) if len(points) > 1 else 0

    def xy(n: int, f1: float) -> tuple[float, float]:
        return (_scale(n, x_lo, x_hi, PAD, WIDTH - PAD / 2), _scale(f1, 0.0, 1.0, HEIGHT - PAD, PAD / 2))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):  # y grid and labels
        _, y = xy(x_lo, tick)
        parts.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD / 2}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    base = HEIGHT - PAD
    for n in sorted({x_lo, x_hi, *(n for n, _ in points)}):  # x ticks at the data
        x, _ = xy(n, 0.0)
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{n}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">annotated tasks</text>')
    parts.append(f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" '
                 'text-anchor="middle">dev micro-F1</text>')
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(n, f) for n, f in points))
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
        for n, f1 in points:
            x, y = xy(n, f1)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1f77b4">'
                         f'<title>{n} tasks: F1 {f1:.3f}</title></circle>')
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no training scored yet: the dev split '
                     'needs 50 gold entities</text>')
    parts.append("</svg>")
    return "\n".join(parts)


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def series_svg(panels: list[tuple[str, dict[str, list[tuple[float, float]]]]], title: str,
               xlabel: str = "annotated tasks", y_min: float | None = None) -> str:
    """Side-by-side line charts sharing one legend: each panel is (y label, {series: [(x, y)]});
    the y axis runs from `y_min` (default: 0, or below it when a value is) to 1."""
    names = sorted({name for _, series in panels for name in series})
    xs = sorted({x for _, series in panels for pts in series.values() for x, _ in pts}) or [0, 1]
    ys = [y for _, series in panels for pts in series.values() for _, y in pts]
    y_lo = min(0.0, min(ys, default=0.0)) if y_min is None else y_min
    width, height = WIDTH * len(panels), HEIGHT + 24 * len(names)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for p, (ylabel, series) in enumerate(panels):
        left = p * WIDTH

        def xy(x: float, y: float, left: float = left) -> tuple[float, float]:
            return (left + _scale(x, xs[0], xs[-1], PAD, WIDTH - PAD / 2),
                    _scale(y, y_lo, 1.0, HEIGHT - PAD, PAD / 2 + 10))

        for tick in sorted({y_lo, *(t / 20 for t in range(0, 21, 5 if y_min is None else 1) if t / 20 >= y_lo)}):
            _, y = xy(xs[0], tick)
            parts.append(f'<line x1="{left + PAD}" y1="{y:.1f}" x2="{left + WIDTH - PAD / 2}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{left + PAD - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
        for x in xs:
            px, _ = xy(x, y_lo)
            parts.append(f'<text x="{px:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{x:g}</text>')
        parts.append(f'<text x="{left + WIDTH / 2}" y="{HEIGHT - 10}" text-anchor="middle">{escape(xlabel)}</text>')
        parts.append(f'<text x="{left + 12}" y="{HEIGHT / 2}" transform="rotate(-90 {left + 12} {HEIGHT / 2})" '
                     f'text-anchor="middle">{escape(ylabel)}</text>')
        for name, pts in series.items():
            colour = COLOURS[names.index(name) % len(COLOURS)]
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(x, y) for x, y in sorted(pts)))
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for x, y in pts:
                cx, cy = xy(x, y)
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}">'
                             f'<title>{escape(name)}: {x:g} tasks, {escape(ylabel)} {y:.3f}</title></circle>')
    for i, name in enumerate(names):  # the legend, under the panels
        y = HEIGHT + 12 + 24 * i
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<line x1="{PAD}" y1="{y}" x2="{PAD + 24}" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{PAD + 30}" y="{y + 4}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
