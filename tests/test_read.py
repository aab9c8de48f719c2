"""The field readers together on generated batches: every field read and set against truth.

Targets of issue 4 that are met are asserted as such; where a target is not met yet (hand-
printed digit fields), the assertion guards the level reached and docs/benchmarks.md says
how far from the target it is."""

from __future__ import annotations

import pytest

from pipeline.evaluate import field_outcomes, field_summary
from pipeline.synth.batch import SampleOptions, generate_samples


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, registry):
    out = tmp_path_factory.mktemp("read")
    list(generate_samples(out, SampleOptions(count=8, seed=88)))
    return field_outcomes(out, registry)


def _share(xs, pred):
    xs = list(xs)
    return sum(1 for x in xs if pred(x)) / len(xs) if xs else 1.0


def test_checkboxes_and_signatures(outcomes):
    boxes = [o for o in outcomes if o.kind == "checkbox"]
    assert len(boxes) > 500 and _share(boxes, lambda o: o.right) >= 0.998
    sigs = [o for o in outcomes if o.kind == "signature"]
    assert sigs and not any(o.value is True and not o.truth for o in sigs)  # never signed when unsigned
    signed = [o for o in sigs if o.truth]
    assert _share(signed, lambda o: o.value is not True) <= 0.02


def test_typed_values(outcomes):
    typed = [o for o in outcomes if not o.handwritten and o.kind not in ("checkbox", "signature")]
    filled = [o for o in typed if o.truth not in (None, "")]
    assert len(filled) > 50
    # names with letters outside Swedish (Kovačević) go to review rather than being guessed
    assert _share(filled, lambda o: o.right or o.status != "ok") == 1.0
    assert _share(filled, lambda o: o.right) >= 0.9


def test_nothing_silently_wrong_on_typed_and_nothing_illegible_accepted(outcomes):
    assert not [o for o in outcomes if not o.handwritten and o.auto_accepted and not o.right]
    assert all(o.status != "ok" for o in outcomes if o.illegible)


def test_empty_fields_read_empty(outcomes):
    empty = [o for o in outcomes if o.truth in (None, "") and o.kind not in ("checkbox", "signature") and not o.illegible]
    assert len(empty) > 200 and _share(empty, lambda o: o.status == "empty") >= 0.99


def test_hand_printed_digit_fields_level(outcomes):
    digits = [o for o in outcomes if o.handwritten and o.kind in ("day", "clock_time", "date", "hours", "minutes", "amount")
              and o.truth not in (None, "") and not o.illegible]
    assert len(digits) > 50
    acc = _share(digits, lambda o: o.right)
    print(f"hand-printed digit fields right: {acc:.3f} of {len(digits)}; {field_summary(outcomes)['silent_error_rate']:.4f} silent")
    assert acc >= 0.85  # guard at the level reached; the target is 0.98 (docs/benchmarks.md)
