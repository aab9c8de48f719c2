"""Measure the printed structure of a real FK form PDF, in millimetres.

Used when writing a template: prints every stroked rectangle and ruling line of a page
(FK's 016 layouts draw their text as outlines, so glyph fragments are left out), the
bounding boxes of text lines (glyph clusters), and optionally writes a PNG of the page with
a millimetre grid to read labels and positions from.

    python tools/measure_reference.py ../shared/reference/fk-forms/FK3059_016_F_003.pdf --page 1 --png /tmp/p1.png

The same extraction backs the geometry test (tests/test_reference_geometry.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.synth.reference import grid_png, page_structure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("pdf")
    ap.add_argument("--page", type=int, default=1)
    ap.add_argument("--png", help="write the page with a mm grid to this PNG")
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--text", action="store_true", help="also list text-line boxes")
    a = ap.parse_args()
    s = page_structure(a.pdf, a.page)
    print(f"page {a.page}: {s.width:.2f} x {s.height:.2f} mm")
    print("# horizontal segments: y x0 x1 (lw)")
    for seg in s.hsegs:
        print(f"H {seg.pos:7.2f} {seg.a:7.2f} {seg.b:7.2f} ({seg.lw:.2f})")
    print("# vertical segments: x y0 y1 (lw)")
    for seg in s.vsegs:
        print(f"V {seg.pos:7.2f} {seg.a:7.2f} {seg.b:7.2f} ({seg.lw:.2f})")
    print("# filled areas (shades, checkbox fills): x y w h grey")
    for x, y, w, h, g in s.fills:
        print(f"F {x:7.2f} {y:7.2f} {w:7.2f} {h:7.2f} {g}")
    if a.text:
        print("# text lines (glyph clusters): x y w h")
        for x, y, w, h in s.text_lines:
            print(f"T {x:7.2f} {y:7.2f} {w:7.2f} {h:7.2f}")
    if a.png:
        grid_png(a.pdf, a.page, a.png, a.dpi)
        print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
