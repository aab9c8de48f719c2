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
# never saw. The file is sorted by class: both sides index it through the same seeded
# permutation, ``pipeline.synth.fill.digit_order`` (seed DIGIT_ORDER_SEED there).
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

# --- orient ---------------------------------------------------------------------------------
# Ink/print threshold bounds (0–255 grey). Otsu picks the threshold; on a nearly blank page
# it would pick one inside the paper noise, so it is clamped to where ink can be.
INK_THRESHOLD_MIN = 100
INK_THRESHOLD_MAX = 200
# Skew is measured on a reduced image: 100 dpi keeps a 0.2 mm rule visible and makes the
# angle search cheap; the exact transform comes from registration.
SKEW_DPI = 100
# Horizontal ink runs at least this long (mm) count as ruling/text structure for the skew
# search; at the largest skew we accept, a 3 mm run rises 0.26 mm (under one pixel).
SKEW_RUN_MM = 3.0
SKEW_MAX_POINTS = 60_000
# Fewer structure points than this: measure on all ink instead (a page of handwriting).
SKEW_MIN_POINTS = 1_000
# A reduced-mask pixel is ink when at least a quarter of the full-resolution pixels it
# covers are (a 0.2 mm rule covers about that much of a 0.25 mm pixel).
SKEW_MASK_LEVEL = 64
# Sheets in a feeder turn at most a few degrees; we search a little wider.
MAX_SKEW_DEG = 6.0
# The upright page has its vertical skanningsID and footer 8–13 mm from the left edge; this
# band (mm from the edge) is compared with the same band on the right to guess 0 vs 180.
MARGIN_CUE_MM = (6.0, 16.0)

# --- identify -------------------------------------------------------------------------------
# After deskew a page can still be shifted (feeder: a few mm) and scaled (±3 %: 4.5 mm at
# 150 mm from the top): the skanningsID/footer windows are widened by this much (mm).
ID_SEARCH_MARGIN_MM = 10.0
ID_SEARCH_MARGIN_X_MM = 6.0
# Straight runs longer than this (mm) in a text window are rules, not glyphs.
RULE_MIN_MM = 8.0
# The footer OCR must resemble a template's footer this much (difflib ratio of the
# alphanumerics) and beat the next candidate by this margin to decide a layout version.
FOOTER_MIN_SIMILARITY = 0.6
FOOTER_MIN_MARGIN = 0.05
# Paper sizes of two candidate layouts must differ by this much (mm, width + height) to
# tell them apart by the scanned image's size (A4 vs US letter differ by 23.7 mm).
PAPER_SIZE_MARGIN_MM = 8.0
# Scanner borders live within this distance (mm) of the image edge: ignored for blankness.
EDGE_IGNORE_MM = 10.0
# A page with less dark area than this share (at 50 dpi, away from the edges) is blank.
# A form page carries 3–10 % (rules and print), a short typed letter 0.2 %; blank pages
# with dust and speckle measured 0–0.03 % (generated scans, 200 dpi 1-bit).
BLANK_MAX_INK_SHARE = 0.001

# --- register -------------------------------------------------------------------------------
# Template rules shorter than this (mm) are not used for registration (too easily confused
# with handwriting strokes); FK's checkbox squares are 4.5 mm and do count.
REG_MIN_RULE_MM = 4.0
# Morphological opening length (mm) that keeps rules and removes text and handwriting.
# Shorter than the 4.5 mm checkboxes so that their sides survive.
REG_LINE_KERNEL_MM = 3.5
# FK's rules lie at least 15 mm (016) or 23 mm (015) inside the paper; with the feeder's
# shift that leaves more than 8 mm. Scanner borders live in the outer band: cleared (mm).
REG_EDGE_BAND_MM = 6.0
# Coarse search: scale 97–103 % is what feeders and copiers do (we search ±4 %), shifts of
# up to 15 mm in either direction; rule profiles blurred by 0.5 mm to tolerate residual skew.
REG_MAX_SCALE_DEV = 0.04
REG_SCALE_STEP = 0.001
REG_MAX_SHIFT_MM = 15.0
REG_PROFILE_SIGMA_MM = 0.5
# Fine fit: sample rules every 1.5 mm, 0.75 mm in from their ends (corners join two rules);
# look for the scanned rule within ±1.5 mm, then ±0.6 mm; a printed rule is 0.2–0.4 mm wide
# (half-width 0.35 mm with scanner blur); residuals above 0.4 mm after a fit are outliers.
REG_SAMPLE_STEP_MM = 1.5
REG_END_INSET_MM = 0.75
REG_WINDOW_MM = 1.5
REG_WINDOW_FINE_MM = 0.6
REG_RUN_HALF_MM = 0.35
REG_OUTLIER_MM = 0.4
# A registration is accepted when at least this share of the template's rule samples lies
# on scanned rules and the fit's RMS residual is below this (mm).
REG_MIN_FOUND_SHARE = 0.75
REG_MAX_RMS_MM = 0.3
# Layout matching (identification fallback): the best template page must beat the next one
# by this score margin (found share − RMS mm).
LAYOUT_MIN_MARGIN = 0.05
# Print dropout: the blank form's print, widened by this much (mm) to cover print-position
# differences between our replica and FK's own print, is removed to leave the filler's ink.
DROPOUT_DILATE_MM = 0.3
# Scanner dust is at most ~0.5 mm across (0.2 mm²); a written full stop is as small but sits
# within 1.5 mm of its neighbouring characters, dust usually does not.
DESPECKLE_MAX_MM2 = 0.2
DESPECKLE_ISOLATION_MM = 1.5
# The skanningsID digits are 2.3–2.6 mm tall (FK's print, measured); glyph-sized ink
# components in the ID window are those 1.2–5 mm tall. Tesseract wants a white margin.
ID_GLYPH_HEIGHT_MM = (1.2, 5.0)
# Touching digits merge into one component; the whole 8-digit ID is about 15 mm long.
ID_GLYPH_MAX_WIDTH_MM = 18.0
ID_PAD_MM = 1.0
# Coarse candidates per axis kept apart by at least this shift (mm); at most this many
# per axis, and at most this many combinations fine-fitted. A fit with this share of rule
# samples found and this RMS (mm) is good enough to stop trying.
REG_CANDIDATE_SEPARATION_MM = 2.0
REG_COARSE_CANDIDATES = 3
REG_MAX_FINE_TRIES = 6
REG_GOOD_FOUND_SHARE = 0.9
REG_GOOD_RMS_MM = 0.1
# Dark areas that hold a square this size (mm) are solid (scanner borders, filled blocks,
# the logo), not rules (≤ 0.5 mm), print or handwriting: left out of skew and registration.
SOLID_MIN_MM = 1.5

# --- read -----------------------------------------------------------------------------------
# Grey level below which a pixel of a (print-free) field crop is the filler's ink.
INK_LEVEL = 160
# Field crops are taken this far inside the printed box, so the box's rule and its
# dropout halo never count as ink.
READ_INSET_MM = 0.4
# A field holds writing when it has at least this much ink (mm²): a written "1" at 5 mm is
# about 1 mm², a dust speck that survived despeckling 0.1–0.2 mm².
READ_MIN_INK_MM2 = 0.5
# White margin around a text crop handed to Tesseract.
OCR_MARGIN_MM = 1.0
# How many candidate strings the digit recogniser's beam hands to kind parsing.
DIGIT_BEAM = 8
# A printed (Tesseract) reading of a number joins the candidates when Tesseract is at
# least this sure (stack notes: ~95 on right typed fields, 63–80 on wrong ones), weighted
# by its confidence times TYPED_WEIGHT.
TYPED_MIN_CONFIDENCE = 0.85
TYPED_WEIGHT = 1.0
# A valid reading is accepted without an operator's look from this confidence on. Set per
# kind by calibration on generated data so that auto-accepted fields are wrong in at most
# 0.2 % of cases (docs/benchmarks.md); until calibrated, a cautious default.
ACCEPT_CONFIDENCE_DEFAULT = 0.9
ACCEPT_CONFIDENCE: dict[str, float] = {}
