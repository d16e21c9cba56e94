"""Cost-vs-audience figure from `benchmarks.icecast_side_by_side --json FILE`.

    .venv/bin/python -m benchmarks.plot_cost RESULTS.json benchmarks/figures/cost_vs_audience

writes OUT.svg (drawn here, no plotting library needed) and OUT.png (the SVG rendered by
Debian's headless Chromium, when it is installed).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

WIDTH, HEIGHT = 1060, 560
LEFT, RIGHT, TOP, BOTTOM = 80, 490, 50, 70
COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def series(results: dict) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for step in results["icecast"]:
        out.setdefault("Icecast 2.4.4 (MP3 64 kb/s)", []).append(
            (step["listeners"], step["cpu_s_per_1000_listener_min"]))
    for step in results["townhall"]:
        out.setdefault(step["variant"], []).append(
            (step["listeners"], step["cpu_s_per_1000_listener_min"]))
    for step in results.get("dash", []):  # LL-DASH via Varnish (issue #16)
        out.setdefault(step["variant"], []).append(
            (step["listeners"], step["cpu_s_per_1000_listener_min"]))
    return {k: sorted(v) for k, v in out.items()}


def svg(data: dict[str, list[tuple[int, float]]], title: str) -> str:
    xs = [x for points in data.values() for x, _ in points]
    ys = [y for points in data.values() for _, y in points if y > 0]
    x_lo, x_hi = min(xs), max(xs)
    # Log scale for both axes: the curves differ by an order of magnitude.
    y_lo = 10 ** math.floor(math.log10(min(ys)))
    y_hi = 10 ** math.ceil(math.log10(max(ys)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        if x_hi == x_lo:
            return LEFT + plot_w / 2
        return LEFT + (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * plot_w

    def py(y: float) -> float:
        y = max(y, y_lo)
        return TOP + plot_h - (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="13">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{LEFT}" y="28" font-size="16" font-weight="bold">{title}</text>']
    decade = y_lo
    while decade <= y_hi * 1.0001:
        for m in (1, 2, 5):
            y = decade * m
            if y_lo <= y <= y_hi:
                parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(y):.1f}" '
                             f'y2="{py(y):.1f}" stroke="#ddd"/>')
                parts.append(f'<text x="{LEFT - 8}" y="{py(y) + 4:.1f}" text-anchor="end">'
                             f'{y:g}</text>')
        decade *= 10
    for x in sorted(set(xs)):
        parts.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                     'stroke="#eee"/>')
        parts.append(f'<text x="{px(x):.1f}" y="{TOP + plot_h + 20}" text-anchor="middle">'
                     f'{x:,}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
                 'stroke="#333"/>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 20}" text-anchor="middle">'
                 'listeners (log scale)</text>')
    parts.append(f'<text transform="translate(22,{TOP + plot_h / 2}) rotate(-90)" '
                 'text-anchor="middle">server CPU-seconds per 1,000 listener-minutes (log)</text>')
    for i, (name, points) in enumerate(data.items()):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}"
                        for j, (x, y) in enumerate(points))
        width = 3 if name.startswith("Icecast") or "defaults" in name else 1.8
        dash = "" if name.startswith("Icecast") or "defaults" in name else ' stroke-dasharray="6,4"'
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}"/>')
        ly = TOP + 10 + i * 22
        parts.append(f'<line x1="{WIDTH - RIGHT + 20}" x2="{WIDTH - RIGHT + 45}" y1="{ly}" '
                     f'y2="{ly}" stroke="{colour}" stroke-width="{width}"{dash}/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 52}" y="{ly + 4}" font-size="12">'
                     f"{_escape(name.replace(' (experiment)', ''))}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_png(svg_path: Path, png_path: Path) -> bool:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return False
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png_path}",
         svg_path.resolve().as_uri()],
        capture_output=True, timeout=60)
    return result.returncode == 0 and png_path.exists()


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    svg_path, png_path = out.with_suffix(".svg"), out.with_suffix(".png")
    svg_path.write_text(svg(series(results), "Server CPU per listener: Townhall vs Icecast"))
    print(f"wrote {svg_path}")
    if render_png(svg_path, png_path):
        print(f"wrote {png_path}")
    else:
        print("no PNG (Chromium not found or failed)")


if __name__ == "__main__":
    main()
