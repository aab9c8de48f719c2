"""Constants of blankett, with their units and the reasons for their values.

One place for every number that a reader of the code would otherwise have to hunt for
(as SDAPS's ``defs.py``). Stages import from here; tests may too.
"""

from __future__ import annotations

from pathlib import Path

MM_PER_INCH = 25.4

# --- shared data (reference only, never committed) -----------------------------------------
# ../shared beside the checkout holds FK's real blank forms, FK's ELT schema and MNIST.
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"
REFERENCE_FORMS_DIR = SHARED_DIR / "reference" / "fk-forms"
ELT_SCHEMA = SHARED_DIR / "reference" / "elt" / "tidredovisning_extern_v1.xsd"
MNIST_NPZ = SHARED_DIR / "data" / "mnist-train" / "mnist_train.npz"

# The 60,000 real handwritten MNIST digits are split once: the digit recogniser trains and
# validates on the first 55,000; the sample generator writes hand-printed digits with the
# last 5,000 only, so that accuracy measured on generated forms is on digits the recogniser
# never saw.
MNIST_RECOGNISER_SLICE = (0, 55_000)
MNIST_GENERATOR_SLICE = (55_000, 60_000)

# --- scanning -------------------------------------------------------------------------------
# Production scanners at FK's scanning centre deliver 200 or 300 dpi, 1-bit (CCITT G4) or
# greyscale. The generator produces both; the pipeline works at the resolution it is given.
SCAN_DPIS = (200, 300)


def reference_pdf(form: str, version: str) -> Path:
    """FK's blank PDF of a layout version: 3059/016F003 → FK3059_016_F_003.pdf."""
    return REFERENCE_FORMS_DIR / f"FK{form}_{version[:3]}_{version[3]}_{version[4:]}.pdf"

# --- ingest ---------------------------------------------------------------------------------
# A4 at 600 dpi is 35 Mpx; A3 at 600 dpi 70 Mpx. Nothing a mailroom scans is larger, so a
# page over 80 Mpx is refused before it is decoded (decompression bombs).
MAX_PAGE_PIXELS = 80_000_000
# A batch file is one scanner run; production scanners cut batches far below this.
MAX_PAGES_PER_FILE = 2_000
MAX_BATCH_FILE_BYTES = 2_000_000_000
# Vector or mixed PDF pages (not scans) are rendered at this resolution.
RENDER_DPI = 300
