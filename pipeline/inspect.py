"""``blankett inspect``: see a registration at a glance.

For every page of a batch file, the scan with the registered template drawn over it: the
template's rules in red, field boxes in blue (checkboxes and signatures in green), and a
header line saying what the page was identified as and how well it registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from pipeline import ingest
from pipeline.forms import TemplateRegistry
from pipeline.pages import process_page
from pipeline.register import template_rules

RULE_BGR = (40, 40, 230)
FIELD_BGR = (220, 120, 0)
MARK_BGR = (0, 160, 0)


def _poly(to_px, pts_mm: np.ndarray) -> np.ndarray:
    return np.rint(to_px(pts_mm)).astype(np.int32)


def overlay(image: np.ndarray, rp) -> np.ndarray:
    """The scan with the template drawn through the page's full mapping (local warp included)."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    out = (out * 0.6 + 100).astype(np.uint8)  # fade the scan so the overlay stands out
    for o, pos, a, b in template_rules(rp.template, rp.page_number):
        t = np.linspace(a, b, max(2, int((b - a) / 5) + 1))  # a polyline: warped rules bend
        pts = np.column_stack([t, np.full_like(t, pos)]) if o == "h" else np.column_stack([np.full_like(t, pos), t])
        cv2.polylines(out, [_poly(rp.to_px, pts)], False, RULE_BGR, 1, cv2.LINE_AA)
    for f in rp.template.expanded_fields(rp.page_number):
        x, y, w, h = f.box
        colour = MARK_BGR if f.kind.value in ("checkbox", "signature") else FIELD_BGR
        corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        cv2.polylines(out, [_poly(rp.to_px, corners)], True, colour, 1, cv2.LINE_AA)
    return out


def inspect_file(path: Path, out_dir: Path, registry: TemplateRegistry | None = None,
                 echo: Callable[[str], None] = print) -> list[Path]:
    registry = registry or TemplateRegistry.load()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in ingest.pages(path):
        r = process_page(page, registry)
        if page.image is None:
            echo(f"page {page.index + 1}: cannot be decoded: {page.error}")
            continue
        if r.registered is not None:
            rp = r.registered
            img = overlay(page.image, rp)
            q = rp.quality
            head = (f"{rp.template.form} {rp.template.version_label} p{rp.page_number} via {r.ident.method}; "
                    f"turned {r.rotation}, skew {r.skew_deg:+.2f} deg; RMS {q.rms_mm:.3f} mm, "
                    f"rules found {q.found_share:.0%}" + ("; locally refined" if rp.warp is not None else "")
                    + ("" if rp.ok else f"; NOT REGISTERED: {rp.reason}"))
        else:
            img = cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)
            head = f"{r.ident.kind}: {r.ident.reason or ''}"
        scale = max(1.0, img.shape[1] / 1600)
        cv2.rectangle(img, (0, 0), (img.shape[1], int(40 * scale)), (255, 255, 255), -1)
        cv2.putText(img, head, (10, int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (0, 0, 0), max(1, int(scale)), cv2.LINE_AA)
        dest = out_dir / f"{path.stem}-p{page.index + 1:03d}.png"
        cv2.imwrite(str(dest), img)
        written.append(dest)
        echo(f"{dest.name}: {head}")
    return written
