"""Orient, identify, register and split, stage by stage, on scans with known truth.

Pages are our replicas (and, when ../shared is present, FK's real blank forms) run through
the scan simulator, which records the exact mm → px transform it applied."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import defs
from pipeline.identify import Identification, identify
from pipeline.ingest import PageImage
from pipeline.orient import estimate_skew, orient, rotation_candidates
from pipeline.pages import field_errors_mm, process_page
from pipeline.register import register
from pipeline.split import split
from pipeline.synth import render, scan
from pipeline.synth.reference import render_reference_page


def _scan(clean: np.ndarray, dpi: int, seed: int, **overrides) -> scan.ScanResult:
    rng = np.random.default_rng(seed)
    prof = scan.ScanProfile.random(rng, dpi, overrides.pop("bitonal", seed % 2 == 0))
    if overrides:
        from dataclasses import replace

        prof = replace(prof, **overrides)
    return scan.simulate_scan(clean, dpi, prof, rng)


def _page(s: scan.ScanResult) -> PageImage:
    return PageImage(None, 0, s.image, float(s.dpi), s.bitonal, "png")


def _truth_skew(s: scan.ScanResult) -> float:
    m = np.asarray(s.mm_to_px)
    return float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))


# --- orient ---------------------------------------------------------------------------------

@pytest.mark.parametrize("angle", [-4.6, -1.3, 0.0, 0.4, 2.2, 5.0])
def test_skew_estimate(registry, angle):
    t = registry.get("3059", "016F003")
    s = _scan(render.render_blank_image(t, 2, 200), 200, 1, rotation_deg=angle, upside_down=False)
    est = estimate_skew(s.image, 200)
    # the scan's angle is counter-clockwise positive, ours clockwise positive
    assert abs(est - (-angle)) < 0.15


def test_rotation_candidates_and_quarter_turns(registry):
    t = registry.get("3057", "016F002")
    s = _scan(render.render_blank_image(t, 1, 200), 200, 2, rotation_deg=0.3, upside_down=False)
    assert rotation_candidates(s.image, 200)[0] == 0
    flipped = np.ascontiguousarray(s.image[::-1, ::-1])
    assert rotation_candidates(flipped, 200)[0] == 180
    for k, rot in ((1, 90), (-1, 270)):  # np.rot90 k=1 turns counter-clockwise: undo by 90 clockwise
        sideways = np.ascontiguousarray(np.rot90(s.image, k=k))
        assert set(rotation_candidates(sideways, 200)) == {90, 270}
        ip = identify(PageImage(None, 0, sideways, 200.0, True, "png"), registry)
        assert ip.ident.key == "3057/016F002/1" and ip.oriented.rotation == rot


def test_orient_matrix_maps_original_to_upright(registry):
    t = registry.get("3059", "016F003")
    s = _scan(render.render_blank_image(t, 1, 200), 200, 3, upside_down=True, rotation_deg=1.0)
    op = orient(_page(s), 180)
    # a point of the original maps where the upright image shows it: check with the ID
    pts = np.array([[100.0, 200.0]])
    mapped = pts @ op.to_oriented[:, :2].T + op.to_oriented[:, 2]
    assert 0 <= mapped[0, 0] < op.image.shape[1] and 0 <= mapped[0, 1] < op.image.shape[0]
    assert abs(op.skew_deg) < 1.5


# --- identify -------------------------------------------------------------------------------

def _all_pages(registry):
    return [(t, p.number) for t in registry for p in t.pages]


@pytest.mark.parametrize("dpi, bitonal", [(200, True), (300, False)])
def test_identify_every_template_page(registry, dpi, bitonal):
    wrong = []
    for i, (t, n) in enumerate(_all_pages(registry)):
        s = _scan(render.render_blank_image(t, n, dpi), dpi, 100 + i, bitonal=bitonal)
        ip = identify(_page(s), registry)
        if ip.ident.key != f"{t.key}/{n}" or ip.oriented.rotation != s.orientation:
            wrong.append((t.key, n, s.orientation, ip.ident))
    assert not wrong


def test_layout_versions_sharing_an_id_are_told_apart(registry):
    for version in ("015F001", "016F003"):
        t = registry.get("3059", version)
        s = _scan(render.render_blank_image(t, 1, 200), 200, 7)
        ip = identify(_page(s), registry)
        assert ip.ident.skanningsid == "30590106"
        assert ip.ident.version == version and ip.ident.method != "skanningsid"


def test_blank_and_letter_pages_are_not_forms(registry):
    s = _scan(np.full((2339, 1654), 255, np.uint8), 200, 8, speckle_per_dm2=20.0)
    assert identify(_page(s), registry).ident.kind == "blank"
    from pipeline.synth.batch import _letter_page

    s = _scan(_letter_page(np.random.default_rng(1), 200), 200, 9)
    assert identify(_page(s), registry).ident.kind == "other"


def test_unreadable_id_falls_back_to_layout(registry):
    t = registry.get("3066", "004F005")
    clean = render.render_blank_image(t, 1, 200)
    px = 200 / 25.4
    x, y, w, h = t.page(1).skanningsid_box
    clean[int((y - 3) * px):int((y + h + 3) * px), int((x - 2) * px):int((x + w + 2) * px)] = 0  # inked over
    s = _scan(clean, 200, 10, upside_down=False)
    ip = identify(_page(s), registry)
    assert ip.ident.key == "3066/004F005/1" and ip.ident.method == "layout"


def test_undecodable_page_is_kept_as_unreadable(registry):
    ip = identify(PageImage(None, 3, None, 0.0, False, "pdf", error="page 4 cannot be decoded"), registry)
    assert ip.ident.kind == "unreadable" and "page 4" in ip.ident.reason


# --- register -------------------------------------------------------------------------------

def _registration_errors(registry, clean_of, seeds):
    errs, skews = [], []
    for i, (t, n) in enumerate(_all_pages(registry)):
        clean = clean_of(t, n)
        if clean is None:
            continue
        for seed in seeds:
            s = _scan(clean, 200, 1000 * seed + i)
            r = process_page(_page(s), registry)
            assert r.ident.key == f"{t.key}/{n}", (t.key, n, r.ident)
            assert r.registered.ok, r.registered.reason
            errs.append(field_errors_mm(r.registered, s))
            d = (np.degrees(np.arctan2(r.registered.mm_to_px[1, 0], r.registered.mm_to_px[0, 0])) - _truth_skew(s))
            skews.append(abs((d + 180) % 360 - 180))
    return np.concatenate(errs), np.array(skews)


def test_registration_on_replicas(registry):
    errs, skews = _registration_errors(registry, lambda t, n: render.render_blank_image(t, n, 200), (1, 2))
    assert np.median(errs) <= 0.3 and errs.max() <= 1.0
    assert np.median(skews) <= 0.1 and skews.max() <= 0.3


def test_registration_on_real_fk_forms(registry, shared_dir):
    def clean_of(t, n):
        pdf = defs.reference_pdf(t.form, t.version)
        return render_reference_page(pdf, n, 200) if pdf.exists() else None

    errs, skews = _registration_errors(registry, clean_of, (3,))
    assert len(errs) > 0
    assert np.median(errs) <= 0.3 and errs.max() <= 1.0
    assert np.median(skews) <= 0.1 and skews.max() <= 0.3


def test_registration_failure_is_reported(registry):
    """A page identified as a form whose ruling is not there does not pass as registered."""
    t = registry.get("3059", "016F003")
    s = _scan(render.render_blank_image(t, 1, 200), 200, 11, upside_down=False)
    ip = identify(_page(s), registry)
    other = Identification("form", "3057", "016F002", 2, method="test")
    rp = register(type(ip)(ip.oriented, other), registry)
    assert not rp.ok and rp.reason


def test_ink_layer_removes_the_print(registry):
    from pipeline.synth import fill

    t = registry.get("3059", "016F003")
    rng = np.random.default_rng(4)
    blank = render.render_blank_image(t, 1, 200)
    ink = fill.fill_page(t, 1, {"person.name": "Anna Berg", "kollektivavtal.ja": True}, fill.Writer.random(rng, "hand"), rng, 200).ink
    s = _scan(fill.compose(blank, ink), 200, 12, bitonal=False, upside_down=False)
    rp = process_page(_page(s), registry).registered
    f_name, f_ja, f_nej = (t.fields_by_id[k] for k in ("person.name", "kollektivavtal.ja", "kollektivavtal.nej"))
    assert (rp.ink_crop(f_name) < 128).mean() > 0.01  # the handwriting is there
    assert (rp.ink_crop(f_nej) < 128).mean() < 0.002  # an empty box: its print is gone
    assert (rp.ink_crop(f_ja) < 128).mean() > 0.02


# --- split ----------------------------------------------------------------------------------

def _ids(*specs):
    out = []
    for s in specs:
        if s in ("blank", "other"):
            out.append(Identification(s))
        else:
            form, n = s.split(":")
            version = {"3059": "016F003", "3057": "016F002"}[form]
            out.append(Identification("form", form, version, int(n)))
    return out


COUNTS = {"3059/016F003": 3, "3057/016F002": 2}


def test_split_well_formed_batch():
    ids = _ids("3057:1", "3057:2", "3059:1", "3059:2", "3059:3", "blank", "3059:1", "3059:2", "3059:3")
    docs = split(list(range(len(ids))), ids, COUNTS)
    assert [(d.form, sorted(d.pages.values())) for d in docs] == [
        ("3057", [0, 1]), ("3059", [2, 3, 4]), ("3059", [6, 7, 8])]
    assert docs[1].attachments == [5]  # the blank page stays with the document it follows
    assert all(not d.problems for d in docs)


def test_split_reports_missing_duplicate_and_misordered_pages():
    ids = _ids("other", "3059:3", "3059:2", "3059:1", "3059:1", "3059:2", "3059:2", "3059:3", "3057:1")
    docs = split(list(range(len(ids))), ids, COUNTS)
    assert len(docs) == 3
    assert docs[0].attachments == [0] and [p.code for p in docs[0].problems] == ["page_order"]
    codes = [(p.code, p.page) for p in docs[1].problems]
    assert ("duplicate_page", 2) in codes and ("page_order", 3) not in codes
    assert [(p.code, p.page) for p in docs[2].problems] == [("missing_page", 2)]


def test_split_never_drops_pages():
    ids = _ids("blank", "other", "3059:2", "blank", "3057:2", "3057:1", "other")
    docs = split(list(range(len(ids))), ids, COUNTS)
    kept = sorted(i for d in docs for i in list(d.pages.values()) + d.attachments)
    assert kept == list(range(len(ids)))


def test_split_uses_running_headers():
    """Two assistants' time reports in a row, the first without its page 3 and the second
    without its page 1: page numbers alone cannot tell them apart, the running headers can."""
    ids = _ids("3059:1", "3059:2", "3059:2", "3059:3")
    a = {"assistent_personnummer": "198503121234", "year_month": "2026-09"}
    b = {"assistent_personnummer": "199001011239", "year_month": "2026-09"}
    docs = split(list(range(4)), ids, COUNTS, [a, a, b, b])
    assert [sorted(d.pages.values()) for d in docs] == [[0, 1], [2, 3]]
    assert [(p.code, p.page) for p in docs[0].problems] == [("missing_page", 3)]
    assert [(p.code, p.page) for p in docs[1].problems] == [("missing_page", 1)]
    # without headers the second page 2 would be taken for a duplicate
    docs = split(list(range(4)), ids, COUNTS)
    assert len(docs) == 1 and ("duplicate_page", 2) in [(p.code, p.page) for p in docs[0].problems]
    # unread (missing) header values never split a document
    docs = split(list(range(4)), _ids("3059:1", "3059:2", "3059:3", "blank"), COUNTS, [a, {}, {"year_month": "2026-09"}, {}])
    assert len(docs) == 1 and not docs[0].problems


def test_a_misread_month_does_not_split_a_document():
    a1 = {"assistent_personnummer": "198503121234", "year_month": "2026-08"}  # month misread on page 1
    a2 = {"assistent_personnummer": "198503121234", "year_month": "2026-05"}
    docs = split(list(range(3)), _ids("3059:1", "3059:2", "3059:3"), COUNTS, [a1, a2, a2])
    assert len(docs) == 1
    assert [(p.code, p.page) for p in docs[0].problems] == [("header_mismatch", 2), ("header_mismatch", 3)]


def test_a_misread_month_alone_does_not_split_a_document():
    """No personnummer read surely on the later pages, and their month misread: one document,
    the mismatch reported (two documents would ask the sender for pages they sent)."""
    docs = split(list(range(3)), _ids("3059:1", "3059:2", "3059:3"), COUNTS,
                 [{"year_month": "2024-12"}, {"year_month": "2024-12"}, {"year_month": "2024-07"}])
    assert len(docs) == 1
    assert [(p.code, p.page) for p in docs[0].problems] == [("header_mismatch", 3)]


def test_one_misread_personnummer_does_not_split_when_the_other_agrees():
    p1 = {"person_personnummer": "195304016628", "assistent_personnummer": "197307295324"}  # misread, passes Luhn
    p2 = {"person_personnummer": "195304011728", "assistent_personnummer": "197307295324"}
    other = {"person_personnummer": "195304011728", "assistent_personnummer": "199001011239"}
    docs = split(list(range(4)), _ids("3059:1", "3059:2", "3059:3", "3059:2"), COUNTS, [p1, p2, p2, other])
    assert [sorted(d.pages.values()) for d in docs] == [[0, 1, 2], [3]]
    assert ("header_mismatch", 2) in [(p.code, p.page) for p in docs[0].problems]


def test_the_next_document_of_the_same_person_reports_no_mismatch():
    """Two assistants' time reports for one person in a row (the bench's batches): the second
    one's page 1 starts a new document, and its assistant's personnummer, which differs from
    the first document's, is no mismatch of the new one."""
    a = {"person_personnummer": "197809121572", "assistent_personnummer": "198111292325", "year_month": "2023-08"}
    b = {"person_personnummer": "197809121572", "assistent_personnummer": "199710081432", "year_month": "2023-08"}
    docs = split(list(range(4)), _ids("3059:1", "3059:2", "3059:1", "3059:2"), {"3059/016F003": 2}, [a, a, b, b])
    assert [sorted(d.pages.values()) for d in docs] == [[0, 1], [2, 3]]
    assert [d.problems for d in docs] == [[], []]


# --- dropout --------------------------------------------------------------------------------

def test_mend_dropout_gives_back_the_feet_of_writing_on_a_rule():
    """A stroke that stands on a rule keeps what the dropout's halo took of it; the rule
    itself, and a dark fringe of the rule away from any writing, stay removed."""
    from pipeline.register import mend_dropout

    dpi = 300.0
    img = np.full((60, 160), 250, np.uint8)
    img[40:43, :] = 20                  # the printed rule, 0.25 mm
    img[37:40, 100:150] = 90            # a dark fringe above it (blur, misregistration), no writing near
    img[10:40, 20:25] = 30              # a stroke standing on the rule
    img[10:30, 60:65] = 30              # a stroke well above it
    mask = np.zeros(img.shape, bool)
    mask[36:47, :] = True               # the rule widened by DROPOUT_DILATE_MM (4 px at 300 dpi)
    mended = mend_dropout(img, mask, dpi)
    # the print proper: the mask shrunk back to DROPOUT_CORE_MM (2 px) around the rule, rows 38-44
    assert not mended[36:38, 20:25].any()      # the stroke's foot in the halo is given back
    assert mended[38:45, :].all()              # the rule stays removed
    assert mended[36:38, 100:150].all()        # the fringe far from writing too
    assert mended[:, 60:65].sum() == 11 * 5    # nothing given back under a stroke that ends above
    given = np.nonzero(mask & ~mended)
    assert given[1].min() >= 20 - 5 and given[1].max() < 25 + 5  # only within DROPOUT_MEND_MM of writing


@pytest.mark.parametrize("style", ["typed", "hand"])
def test_a_month_after_the_post_came_is_not_read_as_the_page_month(registry, style):
    """The month a report is for has begun when FK receives it (``before_received`` in the
    template): read with a received day after it, the page's month is the one written;
    with a received day before it, the same ink is no month the page can carry, and it does
    not tie the page to a document."""
    from datetime import date

    from pipeline.synth import fill

    t = registry.get("3059", "016F003")
    rng = np.random.default_rng(21)
    ink = fill.fill_page(t, 1, {"header.year_month": "2024-11"}, fill.Writer.random(rng, style), rng, 200).ink
    s = _scan(fill.compose(render.render_blank_image(t, 1, 200), ink), 200, 3, bitonal=True, upside_down=False)
    after = process_page(_page(s), registry, received=date(2024, 12, 3))
    assert after.readings["header.year_month"].value == "2024-11"
    assert after.identity.get("year_month") in (None, "2024-11")  # (a hand month may be held)
    before = process_page(_page(s), registry, received=date(2024, 10, 20))
    r = before.readings["header.year_month"]
    assert r.value != "2024-11" and r.status != "ok" and "year_month" not in before.identity
