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
# Vector or mixed PDF pages (not scans) are rendered at this resolution.
RENDER_DPI = 300
# poppler renders an A4 page at 300 dpi in under a second; one still running after this long
# (s) is stuck on a pathological file: that page is reported unreadable, the batch goes on.
RENDER_TIMEOUT_S = 60

# --- limits: what a batch file may be (bad input is refused with the reason, never tried) ----
# A4 at 600 dpi is 35 Mpx; A3 at 600 dpi 70 Mpx. Nothing a mailroom scans is larger, so a
# page over 80 Mpx is refused before it is decoded (decompression bombs: a 1-bit G4 TIFF of
# 12,000 × 12,000 px is a few kB on disk and 144 MB decoded). The same limit holds for a
# vector PDF page *before* poppler renders it at RENDER_DPI: A3 at 300 dpi is 17 Mpx, a
# 200 × 200 inch page (the largest PDF allows) would be 3.6 Gpx.
MAX_PAGE_PIXELS = 80_000_000
# A batch file is one scanner run: production feeders hold 500 sheets and scanning software
# cuts batches far below this; 2,000 pages of 200 dpi G4 take about an hour to process, so
# a larger file is a mistake (or an attack) that would block the nightly run.
MAX_PAGES_PER_FILE = 2_000
# 2,000 pages of 300 dpi greyscale JPEG are about 1 GB; twice that leaves room.
MAX_BATCH_FILE_BYTES = 2_000_000_000
# Active content no scanner writes: a PDF with any of these (JavaScript, actions that launch
# programs, import or submit data, embedded files, multimedia, XFA forms) is refused, never
# shown on an operator's machine. Nothing in blankett runs it, but the file would end up in
# the archive and in front of people. Keys anywhere in the document's object graph, the
# types (/S) of action dictionaries, and annotation subtypes:
PDF_ACTIVE_KEYS = ("/JavaScript", "/JS", "/EmbeddedFiles", "/EmbeddedFile", "/RichMedia", "/XFA")
PDF_ACTIVE_ACTIONS = ("/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute")
PDF_ACTIVE_ANNOTATIONS = ("/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound")
# The check walks the document's object graph (not the page contents); a 2,000-page scan has
# about 6,000 objects (page, image, contents), so a file with more than this is refused as
# not a scan rather than walked for minutes.
PDF_MAX_OBJECTS_CHECKED = 200_000

# --- data protection ------------------------------------------------------------------------
# Field crops and page images of a finished document (exported to FK, or sent back to the
# sender for completion) are deleted this many days after its last change: long enough for a
# case handler's questions about a record and for a 3057 whose late time reports arrive in
# the following month (the deadline is the 5th of the second month); the record keeps every
# value, only the images go. Overridden by BLANKETT_RETENTION_DAYS or `blankett retention --days`.
RETENTION_DAYS = 90

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
# A footer's layout version ("015 F 001") this many characters off a known version is taken
# for that version misread (Tesseract confuses 5/6 and 3/8 in the footer's small print), not
# for a layout we have no template of. FK's versions of one form differ in two places or more.
FOOTER_VERSION_MAX_MISREAD = 1
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
# Writing that touches a rule (a typed value set low in its box, a digit's foot on the
# line) loses to that halo what lies in it. Digit fields get it back (register.mend_dropout):
# dark halo pixels connected to the writing within DROPOUT_MEND_MM (the halo's width and a
# little more); the print proper, widened by DROPOUT_CORE_MM for registration (~0.1 mm RMS)
# and FK's print sitting up to 0.1 mm off our replica, stays removed.
DROPOUT_CORE_MM = 0.15
DROPOUT_MEND_MM = 0.4
# Scanner dust is at most ~0.5 mm across (0.2 mm²); a written full stop is as small but sits
# within 1.5 mm of its neighbouring characters, dust usually does not.
DESPECKLE_MAX_MM2 = 0.2
DESPECKLE_ISOLATION_MM = 1.5
# A faint stroke (grey scan, a light hand, a ballpoint that skips) is darker than paper
# (~240) but mostly lighter than INK_LEVEL: its dark spots are small components of ink. Faint
# ink is darker than FAINT_INK_LEVEL. A spot inside more than DESPECKLE_FAINT_FACTOR times the
# speck size of faint ink is part of a stroke, not dust (dust's own blur adds less than that).
FAINT_INK_LEVEL = 210
DESPECKLE_FAINT_FACTOR = 3.0
# A field's label printed inside its box: what the dropout leaves of it (FK's print is not
# exactly our replica: another face, a little offset) lies within the label's place as the
# template sets it; this much around it (mm) covers registration, that offset and paper that
# is not flat (up to about 1 mm, see synth.scan.WARP_MAX_MM).
LABEL_SCRAP_MARGIN_MM = 0.8
# The same for the short ticks a page prints in a field's box (the 3059's between its
# beräkningsperiod dates are 2.24 mm): lines shorter than this (mm). Comb ticks are not
# among them: a digit stands beside each.
PRINT_TICK_MAX_MM = 3.0
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
# A number's white gaps wider than OCR_GAP_MAX_H times the writing's height are narrowed to
# OCR_GAP_KEEP_H times it before Tesseract reads it (text.close_gaps): digits typed into a
# comb stand 1.5–2 heights apart, print's word and thousands spaces 0.3–0.6. Narrowed to 0.5
# or 0.7, Tesseract still read a comb "2023-12" as "222" or "2"; at 0.2–0.4 right. Without
# it, 110 of 692 typed months of the calibration set (seeds 101–302) were left to the digit
# readers, which are less sure of print than of hands (median 0.87: held for review).
OCR_GAP_MAX_H = 1.0
OCR_GAP_KEEP_H = 0.3
# Rows of ink separated by a white gap wider than this (mm) are different lines: the dots of
# an Ö sit 0.2–0.4 mm above it at 10 pt, leftovers of a printed label the mask missed
# 1–2 mm above the writing (FK's 015 forms). Only the line with the most ink is read.
OCR_LINE_GAP_MM = 0.6
# Tesseract's languages for names and addresses: Swedish, plus the Latin-script model
# (Debian tesseract-ocr-script-latn) for the letters Swedish lacks in names people here
# carry (Kovačević, Łukasz, Yılmaz, Nguyễn): "swe" alone read Kovačević as "KovacCevié";
# swe+Latin read 56 of 56 typed names and addresses of the calibration set, swe 55. Where the
# Latin data is missing, OCR_TEXT_LANG_FALLBACK.
OCR_TEXT_LANG = "swe+Latin"
OCR_TEXT_LANG_FALLBACK = "swe"
# Dates a form can hold (a reading outside is not a valid date, as 31 February is not):
# the forms' dates are signatures, employment dates, hospital stays and periods of
# assistance, none before 1900 or after 2099 ("7023-01-29" is a 2 read as a 7).
DATE_YEAR_MIN = 1900
DATE_YEAR_MAX = 2099
# On a form that reports a month (3059, 3057) its dates are the month's periods and hospital
# stays, and signatures made after it: from the year before the month's (a stay that began in
# December) to two years after it (a report signed and sent late; the deadline is the 5th of
# the second month after). A date further off is a misread year ("2021" for "2024"); on paper
# it would be a mistake an operator must look at either way.
DATE_YEARS_BEFORE_MONTH = 1
DATE_YEARS_AFTER_MONTH = 2
# Within those bounds a date near the month is likelier than one far off: hospital stays lie
# in the month, signatures in the days after it (FK's deadline is the 5th of the second month
# after), calculation periods (beräkningsperiod) around it, the longest of them some 16 weeks.
# Readings of a date within DATE_NEAR_MONTHS calendar months of the month share out the valid
# readings' mass at DATE_FAR_ODDS to 1 against those further off (parse.date_prior), as the
# mobile series do for phone numbers: a date far off written clearly is still read as
# written, a doubtful year ("2023" or "2025") leans to the month's. A signature under the
# month's hours (``after_month_start`` in the template) is dated from the month on: a
# reading before its first day has the same odds against it.
DATE_NEAR_MONTHS = 4
DATE_FAR_ODDS = 10.0
# How many candidate strings the digit recogniser's beam hands to kind parsing.
DIGIT_BEAM = 8
# A digit field is read twice, by the character reader (segmentation search over the digit
# CNN) and by the line reader (CNN + BiLSTM, CTC: no segmentation), and the two are combined
# as a product of experts (parse.combine): a value one reader did not list gets this
# probability from it, so that one reader's miss lowers a value's confidence but does not
# veto it.
READER_FLOOR = 0.01
# … and each reader's exponent in that product (character reader, line reader): the
# character reader is surer than it is right where its segmentation fails (touching digits
# read as one, a stop fused to a digit), so its probabilities count for less; in amounts
# (a decimal comma read as a 1: "4,29" → "4 129" at 0.93) for much less. Chosen on 2,190
# generated hand-written digit fields (seeds 501–505, 601–603: 0.7 gave the most right
# overall; amounts 0.35, 88 % right against 74 % at 1.0).
#
# Since session 14 the line reader is two networks (read/lines.py NETWORKS), each a reader
# of its own here: (character reader, line network 1, line network 2). The two networks
# share a design and their training data's kind, so their errors are not independent: each
# counts with 0.7, together 1.4 rather than 2. On generated hand-written fields (seed 105's
# clock times, days, dates, hours and minutes, 1,501; seed 301's cost-report fields, 1,690;
# 788 personnummer and phone numbers of seeds 105/106, 305/306) the second network took
# the fields read right from 97.5 to 98.0 %, 89.5 to 90.2 % and 93.6 to 94.5 %; at 1.0
# each, about the same, with more wrong readings sure of themselves.
READER_WEIGHTS = (0.7, 0.7, 0.7)
READER_WEIGHTS_BY_KIND: dict[str, tuple[float, ...]] = {"amount": (0.35, 0.7, 0.7)}
# Kinds whose readings are conditioned on their shape when the readers are combined: a
# string a reader listed that no sender writes is a misreading and does not count as doubt
# ("none of these" keeps the strings no reader listed, and invalid ones a sender can write;
# parse.misreading). A phone number follows the numbering plan (the forms ask for the area
# code); a reader's doubt between a number and the same number with a digit doubled or
# dropped (11 digits of a mobile number) is not a doubt about the number. A date is written
# with 6 or 8 digits, a month 1–12, a day 1–31, a year around the form's month
# (DATE_YEARS_BEFORE/AFTER_MONTH): "2623-06-05" is a 0 read as a 6, not something a sender
# wrote, while a 31 April or a date after the post was received is, and stays a doubt. A
# year and month is six digits, a month 1–12 (its comb boxes take no other): a month after
# the post was received stays a doubt. A clock time has at most four digits, minutes 00–59
# and an hour below 30: "07.301" or "7.65" is a misreading, while "7" (an hour alone) and
# "25.00" (a night counted on) are written and stay doubts. Not for kinds whose invalid
# values people do write (a personnummer with a wrong check digit, an amount with a lost
# comma): there an invalid reading must stay a doubt. Conditioning (session 22), at
# recalibrated thresholds, with as many accepted wrong (docs/benchmarks.md): hand dates
# accepted 66.9 → 78.6 % (seeds 101–104) and 69.8 → 78.8 % (check set; date 0.998018 →
# 0.998195), hand months 95.2 → 95.5 % and 92.7 → 94.6 % (year_month 0.999155 → 0.999219),
# hand clock times 85.1 → 87.6 % and 89.6 → 91.0 % (the calibration's cut falls at the same
# misreading with and without: clock_time unchanged).
COMBINE_CONDITIONED_KINDS = ("phone", "date", "year_month", "clock_time")
# How much likelier a given mobile number (070, 072, 073, 076, 079 and seven digits: the
# numbering plan's series for mobile telephony, PTS) is than a given number of any other
# series, as a number someone writes on a form to be reached at. Sweden has about 14 million
# mobile subscriptions against about 1 million fixed lines (PTS, Svensk telekommarknad), and
# the five mobile series hold 5 × 10⁷ numbers against some 10⁸ in the geographic ones: per
# number, above 50 to 1. 20 stays below that, so that a number of another series written
# clearly is still read as written. The readers were trained on area codes of uniform digits,
# so the ratio is what they do not know; parse.combine uses it only to share out the mass
# of the valid readings among themselves (a 7 of "07" read as a 2, 4 or 9 makes a valid
# geographic number: 0795… → 0495…), never against "none of these".
PHONE_MOBILE_ODDS = 20.0
# A 3059's rows report the month in the order of its days (read/order.py): the likelihood of
# a row's day being earlier than the day of the row above (a forgotten day added further
# down, rows filled out of order), against 1 for the same day or a later one. Taken as 1 row
# in 50, from how people fill such forms, not fitted to the generated forms (whose rows are
# always in order, so any value would look right on them).
DAY_ORDER_BACK = 0.02
# Dates the form lists in order (``ordered`` in its template: a period's start and end, a
# 3059's calculation periods one after another): the likelihood of one written before the
# date above it in the list, against 1 for the same date or a later one. A period cannot end
# before it starts, but a sender can slip (last year's year on the end of a period that
# crosses the new year); taken as 1 in 50, like the days, and not fitted to the generated
# forms either (whose periods are always in order).
DATE_ORDER_BACK = 0.02
# A digit field looks printed when the tops and the bottoms of its digits each lie within
# this share of the digit height (a font's digits share one height and baseline; hand-printed
# ones wander), counting the digits whose height is within TYPED_HEIGHT_BAND of the median
# (a digit fused with a comma is taller). On the calibration sets (seeds 101/102 and the
# cost-report set 301/302): 98.1 % of typed digit fields and 8.1 % of hand-printed ones
# look printed (without the height band: 54 % of typed ones, amounts 36 %, their commas
# fused to a digit). Needs two digits or more.
TYPED_ALIGN_MAX = 0.07
TYPED_HEIGHT_BAND = 0.9
# A line of text looks printed when at least this share of its letters (descender letters
# g j p q y Q J and punctuation left out) stand on one straight baseline, within
# TEXT_BASELINE_TOL of the median letter height (at least one pixel): a font sets every letter
# on its baseline; a hand wanders. The baseline is a Theil–Sen line through the letters'
# bottoms, so a page registered a quarter degree off still counts as straight. Tesseract gives
# a letter beside a descender the box of both now and then (an "i" after a "g" reaching from
# the ascender to the descender line), so letters taller than TEXT_BOX_HEIGHT_MAX times the
# 75th percentile of the heights are left out too. On the text fields of seeds 101–104 (24
# documents each): typed 152 lines, lowest 0.962; hand 112 lines, highest 0.818, 95th
# percentile 0.714. Needs four such letters. Printed text is then accepted on its own
# threshold (text in ACCEPT_CONFIDENCE_PRINTED), hand text on the stricter one.
TEXT_PRINTED_SHARE = 0.9
TEXT_BASELINE_TOL = 0.04
TEXT_BOX_HEIGHT_MAX = 1.1
TEXT_BASELINE_MIN_LETTERS = 4
# A cost report's amounts are read together (pipeline/read/sums.py). A hand-written decimal
# comma is a small mark the digit readers can lose ("259,58" read as 25958 kronor, valid on
# its own): each whole-kronor reading of three digits or more also stands for itself divided
# by 100, with this share of its probability (the arithmetic decides; on FK's real 3057,
# seed 302, most wrong hand amounts were this) …
SUMS_LOST_COMMA = 0.1
# … or read it as a 1 ("335,86" read as 335186 kronor; session 11's check set: 76 of 966
# hand amounts, against 245 that lost it): a whole-kronor reading whose third digit from the
# end is a 1 also stands for the digits around that 1 with a comma in its place …
SUMS_COMMA_AS_ONE = 0.03
# … rows are checked to half an öre an hour plus this slack (öre), for a sender who rounded
# the cost per hour another way …
SUMS_SLACK_ORE = 1
# … and the most probable assignment that adds up replaces the readings, accepted, when it
# holds at least this share of the probability of all assignments that add up.
SUMS_MIN_SHARE = 0.99
# A table that adds up in no way as read may add up with a doubtful reading's digit read
# otherwise (one digit of one field, or of two where one makes its own row fit; and only one
# such way: read/sums._slipped). Such a value is shown to an operator, not accepted: the
# arithmetic cannot tell a misread digit from the sender's own slip there, so it stands at
# even odds.
SUMS_SLIP_CONFIDENCE = 0.5
# A 3059's rows of one kind that do not add up to page 3's total as read (read/sums._time_slip),
# or a cost table that adds up in no way as read (read/sums._alternatives_fit): before the
# reading, how likely the total (the table) is the sender's slip. A doubtful reading's
# alternative that makes them add up is shown first only when it is likelier than that and
# every other such change together. FK recomputes the totals from the rows, so senders'
# slips there are known; how often is not: one total in twenty is a guess on the cautious
# side (the generator plants a wrong total in about one in a hundred, 7 of 600 kinds' totals
# on seeds 101–106), so that a right row is seldom bent to a wrong total. For cost tables
# the generator plants no slips. One digit changed on paper in 111 tables read right (seeds
# 301–306; the slipped value read as written, with its reading's other alternatives): no
# correction shown (at a prior of 0.001, one: a floor alternative that undid the slip).
SUMS_TOTAL_WRONG = 0.05
# A table that does not add up as a whole is settled row by row against its hours as read,
# when at least this many rows fit them (one row fitting a misread hours field by chance is
# unlikely; two, with their four amounts, are not a chance).
SUMS_MIN_ROWS = 2
# A 3059's rows summed over their candidates (read/sums.confirm_time_rows): partial sums
# below this share of the likeliest are dropped as the rows are added (each weighs at most
# a billionth of the likeliest; there are a few thousand at most).
SUMS_PRUNE = 1e-9
# A cost table that adds up in no way as read is searched over its doubtful fields' readers'
# alternatives (read/sums._alternatives_fit), the rows added one at a time; assignments with
# the same partial sums are grouped, each group keeping this many of its likeliest members
# (only the likeliest of all is ever shown; the rest only weigh).
SUMS_TOP_PATHS = 4
# A value written on every page (the month, the personnummer of the running header) is
# read from all its copies together (pipeline/read/copies.py): a copy's probability for a
# value it does not hold among its candidates counts as COPIES_FLOOR, and each copy counts
# with exponent COPIES_WEIGHT (one writer's copies are not independent: a digit they shape
# alike is misread alike, so three copies say less than three readers would). The joined
# reading keeps COPIES_ALTERNATIVES other values for the operator. A copy that gives the
# value less than COPIES_MIN_SUPPORT stops the agreement when it reads another value as
# likelier (another value written there).
COPIES_FLOOR = 0.001
# … but no more than the least probability the copy lists (a value it left out is less
# likely than each it kept: two copies each read at 0.998, with long lists of 0.0001
# alternatives, otherwise joined at less than either), and no less than this: the stored
# records keep alternatives to 4 decimals, and the batch-end step reads them from there.
COPIES_FLOOR_MIN = 0.0001
COPIES_WEIGHT = 0.7
COPIES_ALTERNATIVES = 3
COPIES_MIN_SUPPORT = 0.01
# A copy with ink but no valid reading, beside copies that decide the value, is shown to an
# operator with their value (read/copies.py), at even odds and never accepted: a sender
# writes the same number on each page, but the scrawl itself says nothing of it.
COPIES_UNREAD_CONFIDENCE = 0.5
# A case's values are also read together with the store's earlier records of its persons and
# assistants (pipeline/across.py): the newest this many of each personnummer. A person's month
# is a 3057 and one 3059 per assistant (rarely more than ten), an assistant's one 3059 per
# person, so 50 reach back some months while each look-up (an indexed query) stays small.
ACROSS_EARLIER_MAX = 50
# A name held for review takes the name accepted on another document for the same number
# (pipeline/across.py, ``names`` in forms/*/*.yaml) only when its own reading shares at least
# this much with it (difflib's ratio: twice the characters they have in common, in order, over
# both lengths; case and spacing aside). Tesseract's readings of handwriting keep most of a
# name's letters ("Asha Sjöberg", "Asa Sfärg" for "Aisha Sjöberg": 0.96, 0.64); a reading
# that keeps less than half may be another name written there (a contact person who
# changed, a slip of the pen in the number), which is for an operator to see. A guard, not a
# tuned value: on the bench's set no such case occurs, and a floor of 0 decided 5 more names
# there, all right.
NAMES_MIN_SIMILARITY = 0.5
# A printed-looking field is read by Tesseract (eng, digit whitelist), whose reading leads
# unless the digit CNN is at least this sure of another valid value, or surer of it than
# Tesseract is of its own (then the field was hand-printed after all: on hand-printed digits
# Tesseract is often sure and wrong; read/fields.tesseract_leads).
TYPED_CNN_VETO = 0.9
# A number Tesseract alone found valid (the field did not look printed and the CNN found no
# valid value) keeps at most this confidence: below every acceptance threshold, so an operator
# checks it (on hand-printed digits Tesseract is often sure and wrong).
OCR_ONLY_CONFIDENCE = 0.5
# A valid reading is accepted without an operator's look from this confidence on. Per kind
# and per path (the digit readers combined, or text by Tesseract, here; printed readings
# below), calibrated by tools/calibrate.py on generated batches (seeds 101, 103
# replicas + 102, 104 FK's real forms, 100 documents each, and 301–304: 100 documents with a
# cost report each, for amounts, which the ordinary stream has ~1 in 27; 156,346 fields) as
# the lowest confidence above which accepted readings were wrong in at most 0.2 % of cases
# (never cutting between readings of one confidence); a kind with fewer than 150
# calibration readings (1000 on the digit readers' path, where a single confident
# misreading moves a threshold far) takes the stricter of that and the default (a few
# hundred readings say little about a 0.2 % tail); a kind read within the 0.2 % down to its
# least sure reading takes the looser of that and the default (below it the data say nothing).
# Hand-written text is never accepted (1.0): Tesseract is 0.95–0.96 sure of wrong names as
# of right ones. Checked on seeds 105/106 + 305/306 (400 documents, 76,283 fields: 98.5 %
# accepted, 17 accepted readings wrong, 0.023 %; session 14's readers: two line networks;
# session 16's reading of the running header's copies; session 17's wider digit network and
# commas written as strokes; session 18's cost-table digit corrections and date prior;
# session 19's time rows against page 3's total), docs/benchmarks.md. The printed hours'
# threshold shows how thin such a tail is: 1,020 calibration readings, 5 of them wrong, the
# worst three read at 0.985–0.991; session 19's rows against their total corrected one
# (137 read 187) and held another (37 read 87), and the lowest cut within the 0.2 % fell
# from 0.988 to 0.564.
# Recalibrate when a reader changes.
ACCEPT_CONFIDENCE_DEFAULT = 0.95
ACCEPT_CONFIDENCE: dict[str, float] = {
    "amount": 0.985325, "clock_time": 0.997754, "date": 0.998195, "day": 0.980223,
    "hours": 0.997968, "minutes": 0.95, "organisationsnummer": 0.95, "personnummer": 0.95,
    "phone": 0.998292, "text": 1.0, "year_month": 0.999219,
}
# The same for printed readings: digit fields Tesseract led (printed-looking, TYPED_ALIGN_MAX),
# whose confidence is 1 − (1 − Tesseract's string confidence)(1 − the digit readers'
# probability of the same value or digits), on another scale than theirs alone; and text on
# one baseline (TEXT_PRINTED_SHARE), Tesseract's mean word confidence.
ACCEPT_CONFIDENCE_PRINTED_DEFAULT = 0.99
ACCEPT_CONFIDENCE_PRINTED: dict[str, float] = {
    "amount": 0.02129, "clock_time": 0.830417, "date": 0.99, "day": 0.99,
    "hours": 0.564175, "minutes": 0.99, "organisationsnummer": 0.99,
    "personnummer": 0.99, "phone": 0.989292, "text": 0.89, "year_month": 0.984188,
}

# --- checkboxes (pipeline/read/marks.py) ----------------------------------------------
# Grey level below which a pixel of the ink image is ink. Scanned paper reads 228–252 with
# up to ±10 of sensor noise, JPEG ringing and paper texture; ballpoint and toner read 12–80 at
# full coverage, and a 0.35 mm pen line blurred by the optics still reaches under 150 at
# 200 dpi. 1-bit scans hold 0/255 only. 170 keeps every pen line and no paper.
CHECKBOX_INK_LEVEL = 170
# FK prints its squares with a 0.21 mm line; dropout removes print widened by 0.3 mm
# (defs.DROPOUT_DILATE_MM), i.e. up to 0.4 mm from the nominal line. Registration is good to
# ~0.1 mm (RMS) and FK's real print sits up to 0.1 mm off the replica: measuring from 0.6 mm
# inside the line leaves a 4.2–4.5 mm square a 3.0–3.3 mm inner box that sees no print at all.
CHECKBOX_INNER_INSET_MM = 0.6
# The ring outside the square: from just past the dropout halo to where a sloppy tick ends
# (the generator lets a tick overshoot 0.8 mm; people overshoot 1–2 mm). Other fields' ink is
# never this close: FK keeps ≥ 1.9 mm between a square and its neighbours' boxes.
CHECKBOX_RING_FROM_MM = 0.5
CHECKBOX_RING_TO_MM = 1.4
# Strokes cut apart by the dropout (where a tick crosses the printed line) or by a faint pen
# are joined for counting with a closing of this size (mm): the printed line and its halo are
# ~0.8 mm wide, so this never merges two separate strokes of one tick.
CHECKBOX_STROKE_CLOSE_MM = 0.3
# A component counts as a stroke when it spans at least this much (mm): dust specks are at
# most 0.5 mm across (defs.DESPECKLE_MAX_MM2 ≈ 0.2 mm²), a pen stroke is longer.
CHECKBOX_STROKE_MIN_SPAN_MM = 0.7

# A printed rule left over by the dropout (the page locally misregistered by more than the
# dropout's 0.3 mm, a rule our replica lacks) is a thin line exactly along the page axes
# through the whole box. Axis-parallel runs of at least CHECKBOX_RULE_MIN_MM that are at most
# CHECKBOX_RULE_MAX_MM thick are such residue and are ignored: FK's rules are 0.21 mm, up to 0.4 mm as
# a blurred 1-bit scan thresholds them (measured on simulated 300 dpi scans), while a pen
# stroke that long is 0.35–0.6 mm wide, wobbles and is never exactly level over 2.5 mm; a
# filled box is a thick block.
CHECKBOX_RULE_MIN_MM = 2.5
CHECKBOX_RULE_MAX_MM = 0.4
# … and a rule runs alone: at most this share of its length has ink right beside it (a mark
# crossing it); strokes of a cross near their crossing also form long thin runs, inked along.
CHECKBOX_RULE_MAX_SIDE_SHARE = 0.35

# Interpretation. Spans and shares are of the inner box (≈ 3.0–3.3 mm square, ≈ 10 mm²).
# A mark: its largest stroke spans ≥ 1.8 mm (over half the inner box; pen width and scanner
# blur included, so a line ≥ ~1.3 mm long) and covers ≥ 4 % of the box. The shortest
# deliberate mark, a 1.5 mm dash with a 0.35 mm ballpoint, covers 0.5 mm² ≈ 5 %; a tick in a
# 4.5 mm square runs 3–5 mm of line (12–25 %, measured span 2.2–3.3 mm), a cross 15–40 %.
# A pen resting on the box (a touch up to ~1 mm) stays below and is ambiguous.
CHECKBOX_MARK_SPAN_MM = 1.8
CHECKBOX_MARK_MIN_SHARE = 0.04
# Empty: nothing larger than a dust speck or a pen touch (≤ 0.8 mm), under 1.5 % of the box
# (one 0.4 mm speck is 0.13 mm² ≈ 1.3 %).
CHECKBOX_EMPTY_MAX_SPAN_MM = 0.8
CHECKBOX_EMPTY_MAX_SHARE = 0.015
# Filled: the box blacked in. A dense scribble of a 0.45 mm pen covers 60–100 %; a cross of a
# thick felt pen at most ~45 %.
CHECKBOX_FILLED_MIN_SHARE = 0.55
# … and it is solid, not a bold cross: eroding the ink by a disc of CHECKBOX_FILLED_CORE_MM (wider
# than any pen line, felt tips are ≤ 0.8 mm, and a 1-bit scan fattens lines by ~0.1 mm)
# leaves at least CHECKBOX_FILLED_MIN_CORE of the box. A cross leaves only where its strokes meet.
CHECKBOX_FILLED_CORE_MM = 0.9
CHECKBOX_FILLED_MIN_CORE = 0.2
# Ink beside an otherwise empty box: a mark made next to the square (share of the ring and
# span of the largest ring component). A person looks at it.
CHECKBOX_RING_MARK_SHARE = 0.06
CHECKBOX_RING_MARK_SPAN_MM = 1.5
# Groups: a member counts as the one answer when it is marked and its ink (inner share) is at
# least this many times the next member's: a clear tick beside a faint stray touch.
CHECKBOX_GROUP_DOMINANCE = 3.0

# --- signatures (pipeline/read/signature.py) ------------------------------------------
# Ink: darker than this grey level (ballpoint and toner read 12–80, paper 228–252, FK's
# light grey field panels ~200–235 as scanned), and at least SIGNATURE_INK_CONTRAST below the crop's
# own paper level, so that a darker panel or scanner setting does not turn into ink.
# Stack notes: a threshold of 128 loses thin pen strokes; 170–190 keeps them.
SIGNATURE_INK_LEVEL = 170
SIGNATURE_INK_CONTRAST = 40
# The box's printed frame and the dropout halo around it (0.1 + 0.3 mm) and registration
# error (~0.1 mm) stay outside a box inset by this much (mm).
SIGNATURE_INSET_MM = 0.5
# A closing of this size (mm) joins a pen line broken by a faint spot, a 1-bit threshold or
# the dropout of a printed rule; letters of a typed name 10 pt stay apart (gaps ≥ 0.3 mm are
# mostly bridged, which is why the print test uses the unclosed components).
SIGNATURE_CLOSE_MM = 0.3
# Components spanning less than this (mm) are dust, specks or pen touches, not strokes.
SIGNATURE_STROKE_MIN_SPAN_MM = 1.0

# Absent: no stroke at all, or less ink than a pen touch: total ink under 1.5 mm² (a dot
# 1.4 mm across, or a 0.45 mm pen drawn 3 mm) and nothing spanning SIGNATURE_ABSENT_MAX_SPAN_MM.
# A short tick (5 mm of a 0.45 mm pen, ≥ 2 mm high) has more: it is uncertain, not absent.
SIGNATURE_ABSENT_MAX_INK_MM2 = 1.5
SIGNATURE_ABSENT_MAX_SPAN_MM = 2.0
# Present needs all of:
# - a horizontal span of at least 10 mm: a short signature (initials and a flourish) is
#   1–2 cm; a tick is 3–6 mm;
SIGNATURE_SIG_MIN_WIDTH_MM = 10.0
# - a vertical span of at least 1.8 mm: a written name has letters 2–6 mm high; a line or
#   an underline alone is one pen width (0.3–0.7 mm) plus its slope;
SIGNATURE_SIG_MIN_HEIGHT_MM = 1.8
# - a pen line at least 2.0 times as long as the span it covers: one straight line is ~1.0,
#   an X through a 90 × 13 mm box 1.9; handwriting runs up and down every letter (2.3–5);
SIGNATURE_SIG_MIN_CONTINUITY = 2.0
# - directions spread out: orientation entropy (0 = one direction, 1 = all equally) and the
#   share of the line in its two strongest directions (±11° each): a line or an X have
#   entropy ≤ 0.6 and put ≥ 70 % in two directions; handwriting 0.8–0.95 and 25–50 %.
#   (two_direction_share is kept as a measurement only: a slanted hand also has two main
#   directions, its down-strokes and its joins.) An X through a flat box measures ≈ 0.49,
#   a single line ≤ 0.1, a tick ≈ 0.6; handwriting ≥ 0.65.
SIGNATURE_ORIENT_BINS = 16
SIGNATURE_SIG_MIN_ORIENT_ENTROPY = 0.55
# - not made of long straight strokes: the share of the ink lying on straight segments of at
#   least SIGNATURE_STRAIGHT_MIN_MM (Hough, at SIGNATURE_STRAIGHT_PX_PER_MM ≈ 150 dpi, which is plenty for 0.3 mm
#   pen lines and cheap). A line or an X is ≥ 90 % straight; letters are curved and at most
#   3–6 mm long, so only an underline flourish of a signature counts (measured ≤ 55 %).
SIGNATURE_STRAIGHT_MIN_MM = 10.0
SIGNATURE_STRAIGHT_PX_PER_MM = 6.0
SIGNATURE_STRAIGHT_GAP_MM = 0.2
SIGNATURE_STRAIGHT_BAND_MM = 0.8  # ink within ±0.4 mm of a found segment lies on it (pen width + blur)
SIGNATURE_SIG_MAX_STRAIGHT_SHARE = 0.75
# Print: at least SIGNATURE_PRINT_MIN_LETTERS letter-sized components (height within ±25 % of their
# median, 1.2–4.5 mm: 7–16 pt type), of which at least SIGNATURE_PRINT_MIN_ON_BASELINE stand on one
# straight baseline within SIGNATURE_PRINT_BASELINE_TOL_MM (or 1.5 px). A typeset line's letters sit on their
# baseline to a pixel; a hand's letters scatter by 0.2–0.5 mm and a cursive signature is a few
# connected strokes, not a row of separate letters.
SIGNATURE_PRINT_MIN_LETTERS = 5
SIGNATURE_PRINT_LETTER_MM = (1.2, 4.5)
SIGNATURE_PRINT_BASELINE_TOL_MM = 0.15
SIGNATURE_PRINT_BASELINE_TOL_PX = 1.5  # at 200 dpi a round letter's overshoot rounds to a pixel
SIGNATURE_PRINT_MIN_ON_BASELINE = 0.75

# --- register: local refinement (paper that is not flat) ------------------------------
# The displacement field is a normalised convolution of the samples' residuals: residuals
# and sample weights are splatted onto a grid of REG_WARP_CELL_MM cells, both blurred with a
# Gaussian, and divided; coarse to fine, each level fitting what the coarser left. Folds,
# bulges and curls change over 10–70 mm; a flattened fold's crease over 2–6 mm, which no
# field smoother than the rule spacing follows exactly (the 4 mm level leaves at most ~30 %
# of a fold's 0.2–0.7 mm step within ~4 mm of the crease). The 30 mm level carries a bulge
# into the middle of wide boxes (a 100 mm name box has vertical rules only at its ends: its
# x displacement comes from the boxes above and below; measured: the worst field error on
# warped pages 1.02 → 0.72 mm), the 12 mm level bridges the gaps between neighbouring rules
# and averages the rule-centre noise (~0.04 mm a sample), and the 4 mm level follows folds
# and bulges where rules are dense.
REG_WARP_CELL_MM = 2.0
REG_WARP_SIGMAS_MM = (30.0, 12.0, 4.0)
# Where the kernel-weighted sample density falls below this (samples per mm²; ruled parts of
# a form hold ~0.1) the field shrinks towards 0, i.e. the affine: half way at this density.
REG_WARP_MIN_DENSITY = 0.004
# Support, per axis (x from the vertical rules, y from the horizontal ones): at least this
# many samples (150 mm of rule), in at least this share of the page's REG_WARP_BLOCK_MM
# blocks that hold template rules at all; otherwise that axis stays affine.
REG_WARP_MIN_POINTS = 100
REG_WARP_BLOCK_MM = 40.0
REG_WARP_MIN_BLOCK_SHARE = 0.5
# Matching windows (mm) around the refined prediction: first wide enough for the largest
# warp left after the affine (~1 mm), then the fine fit's window.
REG_WARP_WINDOWS_MM = (1.5, 0.6, 0.6)
# Keep the refinement only when it clearly helps: the RMS residual over the same samples
# drops by at least this share and this much (mm). A flat page's affine residual is
# 0.04–0.08 mm (rule-centre quantisation); the refinement trims that by <15 %.
REG_WARP_KEEP_RATIO = 0.75
REG_WARP_KEEP_MIN_GAIN_MM = 0.03
# The refined mapping must find (nearly) as many rule samples as the affine did.
REG_WARP_SHARE_SLACK = 0.02
# A fitted field larger than this (mm) is not paper that was not flat: something else
# (a wrong coarse candidate, rules hidden under stamps) — the affine is kept.
REG_WARP_MAX_MM = 2.5

# --- rules (pipeline/rules.py) -------------------------------------------------------------
# FK's deadline for a month's invoice and time reports: the 5th of the second month after the
# month of assistance (FK guidance, ../shared/seeds: "senast den 5:e i andra månaden efter
# utförd assistans"). Late is a flag, never a rejection.
DEADLINE_DAY = 5
DEADLINE_MONTHS_AFTER = 2
# The municipality pays the first 20 hours of assistance of each week (FK's guidance for
# municipal providers, "de 20 första timmarna"); weeks are ISO weeks, Monday to Sunday.
MUNICIPALITY_MINUTES_PER_WEEK = 20 * 60
# Which kinds of 3059 time count as hours of assistance for that share. Aktiv tid, väntetid
# and beredskapstid are all reported as actual hours on the invoice (3057 point 2) and paid
# by the hour, so all three count; a provider that counts differently changes this tuple.
MUNICIPALITY_TIME_KINDS = ("aktiv", "vantetid", "beredskap")

# --- crops for review (pipeline/document.py) ----------------------------------------------
# A field's image is cut with this margin (mm) around its box, so an operator sees the
# writing that strayed over the rule and the printed label's edge.
CROP_PAD_MM = 2.0
# Page images beside the crops: enough to see where a field sits on the page (an A4 page is
# 595 × 842 px), small enough to keep (~50 kB a page).
THUMBNAIL_DPI = 72

# --- review UI (pipeline/review) ------------------------------------------------------------
# The operators' web UI listens on the loopback address only unless told otherwise: it shows
# personal data, and a reverse proxy with TLS is the way to offer it to other machines.
REVIEW_HOST = "127.0.0.1"
# Port of `blankett review` (free by convention on a server that also runs Prefect's 4200).
REVIEW_PORT = 8059
# Passwords: scrypt (RFC 7914) with OWASP's minimum for scrypt (N = 2^17, r = 8, p = 1:
# 128 MiB and ~0.3–0.8 s a login on 2 shared cores), a 16-byte random salt and a 32-byte key.
# The parameters are stored with each hash, so raising them later keeps old hashes working.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
# scrypt needs 128 · N · r bytes; OpenSSL refuses more than its maxmem, so allow that plus slack.
SCRYPT_MAXMEM_BYTES = 256 * 1024 * 1024
# NIST SP 800-63B asks for at least 8 characters; operators see personal data, so 10.
PASSWORD_MIN_LENGTH = 10
# Session and CSRF tokens: 32 random bytes (256 bits), URL-safe base64. Only a SHA-256 of the
# session token is stored, so a copy of the database lets no one in.
TOKEN_BYTES = 32
# A session lasts one working day at most (s) and ends after an hour without a request (s).
SESSION_LIFETIME_S = 8 * 3600
SESSION_IDLE_S = 3600
# A form post larger than this (bytes) is refused before it is parsed: the largest, a group
# grid of REVIEW_GROUP_SIZE fields, is under 4 kB.
REVIEW_MAX_FORM_BYTES = 64 * 1024
# Group verification: this many crops of one field kind at once (6 × 4 on a 1920 × 1080
# screen; a day-number crop is ~ 15 × 12 mm, shown 3× enlarged).
REVIEW_GROUP_SIZE = 24
# A task shows this many neighbouring fields of the same page (nearest box centres first):
# a table row's other cells, or the fields above and below.
REVIEW_NEIGHBOURS = 6
# … nearness with vertical distance counted this many times: a line is read across, so the
# same table row (cells 10–40 mm apart) comes before the rows above and below (6 mm pitch).
REVIEW_NEIGHBOUR_Y_WEIGHT = 4.0
# Queue age buckets on the stats page (hours): within an hour, a day, a week, older.
REVIEW_AGE_BUCKETS_H = (1, 24, 168)
# Fields per hour per operator are counted over this many days; an operator's rate is their
# decisions divided by the clock hours in which they decided at least one field.
REVIEW_STATS_DAYS = 7
