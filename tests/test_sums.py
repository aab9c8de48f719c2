"""A cost report's amounts read together (pipeline/read/sums.py): readings that add up are
confirmed, a lost decimal comma restored; anything else is left for an operator."""

from __future__ import annotations

import pytest

from pipeline import defs
from pipeline.forms import FieldKind
from pipeline.read.sums import reconcile
from pipeline.read.types import Reading

# 3057 point 9 as a sender fills it in: (cost per hour, cost for the period) per cost type, the
# totals, and the hours. Per hour = period / hours to the öre; totals = the columns' sums.
HOURS = "172"
ROWS = {"lon": ("259.58", "44647.76"), "ob": ("25.72", "4423.84"), "omkostnader": ("3.83", "658.76"),
        "utbildning": ("4.18", "718.96"), "arbetsmiljo": ("2.93", "503.96"), "administration": ("15.19", "2612.68")}
TOTAL = ("311.43", "53565.96")


@pytest.fixture(scope="module")
def form3057(registry):
    return registry.get("3057", "016F002")


def _reading(fid: str, kind: str, value: str | None, confidence: float = 0.8, status: str = "low_confidence",
             alternatives=()) -> Reading:
    if value is None:
        return Reading(fid, FieldKind(kind), 2, (0, 0, 1, 1), None, 1.0, "empty", False)
    return Reading(fid, FieldKind(kind), 2, (0, 0, 1, 1), value, confidence, status, True, tuple(alternatives))


def _sure(fid: str, value: str, alternatives=()) -> Reading:
    """An amount read surely: accepted as read."""
    return _reading(fid, "amount", value, 0.999, "ok", alternatives)


def _table(**read_as) -> dict[str, Reading]:
    """The cost report's readings, each as written unless ``read_as`` says otherwise
    (field id with dots as underscores → value, or a Reading)."""
    values = {"kostnad.antal_timmar": HOURS, "kostnad.summa.per_timme": TOTAL[0], "kostnad.summa.period": TOTAL[1]}
    for typ, (rate, period) in ROWS.items():
        values[f"kostnad.{typ}.per_timme"], values[f"kostnad.{typ}.period"] = rate, period
    out = {}
    for fid, v in values.items():
        v = read_as.get(fid.replace(".", "_"), v)
        kind = "hours" if fid == "kostnad.antal_timmar" else "amount"
        out[fid] = v if isinstance(v, Reading) else _reading(fid, kind, v)
    return out


def test_the_sums_add_up_as_written():
    assert sum(round(float(p) * 100) for _, p in ROWS.values()) == round(float(TOTAL[1]) * 100)
    for rate, period in ROWS.values():
        assert abs(round(float(rate) * 100) * int(HOURS) - round(float(period) * 100)) <= int(HOURS) / 2


def test_readings_that_add_up_are_confirmed_and_accepted(form3057):
    out = reconcile(form3057, _table())
    cost = [r for fid, r in out.items() if fid.startswith("kostnad.")]
    assert len(cost) == 15
    assert all(r.status == "ok" and r.detail["sums"] == "confirmed" and r.confidence >= 0.99 for r in cost)


def test_a_lost_decimal_comma_is_restored(form3057):
    out = reconcile(form3057, _table(kostnad_lon_per_timme="25958.00", kostnad_ob_period="442384.00"))
    assert out["kostnad.lon.per_timme"].value == "259.58" and out["kostnad.lon.per_timme"].status == "ok"
    assert out["kostnad.lon.per_timme"].detail == {"sums": "corrected", "read_as": "25958.00"}
    assert out["kostnad.ob.period"].value == "4423.84"
    assert ("25958.00", 0.8) in out["kostnad.lon.per_timme"].alternatives  # the reading, for the operator


def test_a_comma_read_as_a_1_is_made_a_comma_again(form3057):
    out = reconcile(form3057, _table(kostnad_lon_per_timme="259158.00", kostnad_ob_period="4423184.00"))
    assert out["kostnad.lon.per_timme"].value == "259.58" and out["kostnad.lon.per_timme"].status == "ok"
    assert out["kostnad.lon.per_timme"].detail == {"sums": "corrected", "read_as": "259158.00"}
    assert out["kostnad.ob.period"].value == "4423.84"
    # a 1 that is a digit stays one: 15.19 read without its comma is 1519, no 1 third from the end
    out = reconcile(form3057, _table(kostnad_administration_per_timme="1519.00"))
    assert out["kostnad.administration.per_timme"].value == "15.19"


def test_other_fields_are_left_alone(form3057):
    t = _table()
    t["person.personnummer"] = _reading("person.personnummer", "personnummer", "191212121212", 0.5)
    assert reconcile(form3057, t)["person.personnummer"] is t["person.personnummer"]


def test_one_doubtful_digit_is_corrected_for_an_operator(form3057):
    # 4423.84 read as 4428.84: the period costs add up only with that 8 a 3 again, and no
    # other single digit of a doubtful reading makes the whole table add up
    t = _table(kostnad_ob_period="4428.84")
    out = reconcile(form3057, t)
    r = out["kostnad.ob.period"]
    assert r.value == "4423.84" and r.status == "low_confidence"  # shown, not accepted:
    assert r.detail == {"sums": "digit corrected", "read_as": "4428.84"}  # it may be the sender's slip
    assert ("4428.84", 0.8) in r.alternatives
    others = [fid for fid in out if fid.startswith("kostnad.") and fid != "kostnad.ob.period"]
    assert all(out[fid].status == "ok" and out[fid].detail["sums"] == "confirmed" for fid in others)
    # the same for the hours: 172 read as 122 fits no row
    out = reconcile(form3057, _table(kostnad_antal_timmar="122"))
    assert out["kostnad.antal_timmar"].value == "172"
    assert out["kostnad.antal_timmar"].detail == {"sums": "digit corrected", "read_as": "122"}


def test_two_misread_digits_one_pinned_by_its_row(form3057):
    # 25.72 read as 25.12 (its row fits only with the 7 back) and 658.76 as 558.76 (its row
    # fits no way either; the period costs add up only with the 6 back)
    out = reconcile(form3057, _table(kostnad_ob_per_timme="25.12", kostnad_omkostnader_period="558.76"))
    for fid, right in (("kostnad.ob.per_timme", "25.72"), ("kostnad.omkostnader.period", "658.76")):
        assert out[fid].value == right and out[fid].status == "low_confidence", fid
        assert out[fid].detail["sums"] == "digit corrected"
    assert out["kostnad.lon.per_timme"].status == "ok" and out["kostnad.summa.period"].status == "ok"


def test_a_printed_looking_reading_corrected_is_shown_not_accepted(form3057):
    # print's threshold for amounts is on Tesseract's scale, far below even odds: a digit the
    # table corrects in a printed-looking reading still waits for an operator
    printed = Reading("kostnad.ob.period", FieldKind.amount, 2, (0, 0, 1, 1), "4428.84", 0.01, "low_confidence",
                      True, detail={"printed": True, "ocr_confidence": 0.4})
    r = reconcile(form3057, _table(kostnad_ob_period=printed))["kostnad.ob.period"]
    assert r.value == "4423.84" and r.detail["sums"] == "digit corrected"
    assert r.status == "low_confidence"


def test_a_misread_no_digit_explains_is_shown_as_the_alternative_that_adds_up(form3057):
    # 259.58 read as 25968.00: a lost comma and a 5 read 6, which neither the comma variants
    # nor one digit changed make fit; the reader's alternative 259.58 does
    misread = _reading("kostnad.lon.per_timme", "amount", "25968.00", 0.6, alternatives=[("259.58", 0.3)])
    t = _table(kostnad_lon_per_timme=misread)
    out = reconcile(form3057, t)
    r = out["kostnad.lon.per_timme"]
    assert r.value == "259.58" and r.status == "low_confidence"  # shown, never accepted
    assert r.detail["sums"] == "an alternative adds up" and r.detail["read_as"] == "25968.00"
    assert r.alternatives[0][0] == "25968.00"
    # the other fields keep what the rows alone made of them: nothing is confirmed by the change
    for fid in ("kostnad.summa.per_timme", "kostnad.summa.period", "kostnad.lon.period"):
        assert out[fid].detail.get("sums") != "confirmed", fid


def test_an_alternative_no_likelier_than_a_senders_slip_is_not_shown(form3057):
    # the same alternative at the readers' floor: the sender's having written figures that do
    # not add up is likelier, and the reading stays as read for an operator
    misread = _reading("kostnad.lon.per_timme", "amount", "25968.00", 0.6, alternatives=[("259.58", 0.0003)])
    r = reconcile(form3057, _table(kostnad_lon_per_timme=misread))["kostnad.lon.per_timme"]
    assert r.value == "25968.00" and r.status == "low_confidence"
    assert r.detail["sums"] == "row does not add up"


def test_two_ways_to_fit_decide_nothing(form3057):
    # 4423.84 read as 4423.89: within the row's rounding, so its 9 → 4 fits, and so does the
    # lon period's 6 → 1 (44647.76 → 44647.71): the table cannot say which was misread
    out = reconcile(form3057, _table(kostnad_ob_period="4423.89"))
    assert not any(r.detail.get("sums") == "digit corrected" for r in out.values())
    assert out["kostnad.ob.period"].value == "4423.89"


@pytest.mark.parametrize("case, bad", [
    ("sum_wrong_on_paper", {"kostnad.summa.per_timme", "kostnad.summa.period"}),
    ("sure_digit_misread", {"kostnad.ob.per_timme", "kostnad.ob.period"}),
    ("unreadable", {"kostnad.ob.per_timme", "kostnad.ob.period"}),
    ("half_a_row", {"kostnad.ob.per_timme", "kostnad.ob.period"}),
])
def test_a_table_that_does_not_add_up_is_settled_row_by_row(form3057, case, bad):
    t = {
        # the sender's own slip, read surely: the total is 10 kronor off; no reading is
        # changed to fit it
        "sum_wrong_on_paper": lambda: _table(kostnad_summa_period=_sure("kostnad.summa.period", "53575.96"),
                                             kostnad_summa_per_timme=_sure("kostnad.summa.per_timme", TOTAL[0])),
        # a digit read wrong, surely; the right one among the alternatives is not taken (two
        # such choices can cancel: +3 öre here, −3 there)
        "sure_digit_misread": lambda: _table(
            kostnad_ob_period=_sure("kostnad.ob.period", "4428.84", alternatives=[("4423.84", 0.001)]),
            kostnad_ob_per_timme=_sure("kostnad.ob.per_timme", ROWS["ob"][0])),
        "unreadable": lambda: _table(kostnad_ob_period=Reading("kostnad.ob.period", FieldKind.amount, 2, (0, 0, 1, 1),
                                                               None, 0.0, "unreadable", True)),
        "half_a_row": lambda: _table(kostnad_ob_per_timme=None),
    }[case]()
    out = reconcile(form3057, t)
    assert all(out[fid].value == r.value for fid, r in t.items())  # nothing changed to fit
    for fid, r in out.items():
        if fid in bad:  # left as read, for an operator
            assert out[fid].value == t[fid].value and out[fid].status != "ok", fid
        elif fid.endswith(".period") or ".summa." in fid:
            assert out[fid] is t[fid], fid  # a period cost's öre are not checked by its row, nor the totals
        else:  # the costs per hour of the rows that fit the hours, and the hours
            assert r.status == "ok" and r.detail["sums"] == "confirmed", fid


def test_a_row_restores_a_comma_and_settles_the_cost_per_hour(form3057):
    # the total is wrong on paper, so the table does not add up as a whole
    t = _table(kostnad_summa_period="53575.96", kostnad_lon_per_timme="25958.00", kostnad_ob_period="442384.00",
               kostnad_omkostnader_period=_reading("kostnad.omkostnader.period", "amount", "658.16", 0.999, "ok"))
    out = reconcile(form3057, t)
    assert out["kostnad.lon.per_timme"].value == "259.58" and out["kostnad.lon.per_timme"].status == "ok"
    assert out["kostnad.ob.period"].value == "4423.84"  # the size is the row's, its öre the reader's:
    assert out["kostnad.ob.period"].status == "low_confidence"  # an operator looks
    assert out["kostnad.ob.period"].detail["sums"] == "comma restored"
    # 658.16 against 658.76: within the row's rounding (172 hours: 86 öre); not confirmed, not held
    assert out["kostnad.omkostnader.period"] is t["kostnad.omkostnader.period"]


def test_sure_readings_in_a_row_that_does_not_add_up_go_to_an_operator(form3057):
    t = _table(kostnad_ob_period=_reading("kostnad.ob.period", "amount", "4428.84", 0.999, status="ok"),
               kostnad_ob_per_timme=_reading("kostnad.ob.per_timme", "amount", "25.72", 0.99, status="ok"))
    out = reconcile(form3057, t)
    for fid in ("kostnad.ob.period", "kostnad.ob.per_timme"):  # not both right: either may be wrong
        assert out[fid].status == "low_confidence" and out[fid].detail["sums"] == "row does not add up"
        assert out[fid].value == t[fid].value and out[fid].confidence < 0.95
    assert out["kostnad.lon.per_timme"].status == "ok"
    # beside a doubtful partner, a sure reading stays sure: the doubtful one is the likely slip
    t = _table(kostnad_ob_period=_reading("kostnad.ob.period", "amount", "4428.84", 0.999, status="ok"))
    out = reconcile(form3057, t)
    assert out["kostnad.ob.per_timme"].confidence < 0.01 and out["kostnad.ob.period"].confidence > 0.99


def test_a_printed_looking_reading_its_row_contradicts_goes_to_an_operator(form3057):
    # a hand-written 29.51 as even as print, read by Tesseract as 245.00: print's threshold
    # (a typed number is almost never misread) no longer holds once its row says it is wrong
    printed = Reading("kostnad.ob.per_timme", FieldKind.amount, 2, (0, 0, 1, 1), "245.00", 0.3, "ok", True,
                      detail={"printed": True, "ocr_confidence": 0.9})
    sure = _sure("kostnad.summa.period", "53575.96")  # (so the table cannot add up as a whole)
    out = reconcile(form3057, _table(kostnad_ob_per_timme=printed, kostnad_summa_period=sure))
    assert out["kostnad.ob.per_timme"].status == "low_confidence"
    assert out["kostnad.ob.per_timme"].detail["sums"] == "row does not add up"


def test_a_total_per_hour_within_its_rounding_is_not_confirmed(form3057):
    # the total per hour is checked only to half an öre a row; it is confirmed when it is the
    # rows' sum (311.43) or the total / hours (53565.96 / 172 = 311.43), not when it is 311.41
    out = reconcile(form3057, _table(kostnad_summa_per_timme="311.41"))
    assert out["kostnad.summa.per_timme"].status == "low_confidence" and out["kostnad.lon.per_timme"].status == "ok"
    out = reconcile(form3057, _table())
    assert out["kostnad.summa.per_timme"].status == "ok"


def test_hours_are_confirmed_only_by_rows_that_pin_them(form3057):
    # 1541 hours read as 1542: rows of a few kronor an hour fit either within their rounding
    # (half an öre an hour: 7.70 kronor), so they settle their own costs per hour, not the hours
    rows = {"lon": ("259.58", "400012.78"), "ob": ("2.93", "4515.13"), "omkostnader": ("1.50", "2311.50")}
    values = {f"kostnad_{typ}_{col}": v for typ, pair in rows.items() for col, v in zip(("per_timme", "period"), pair)}
    unused = {f"kostnad_{typ}_{col}": None for typ in ("utbildning", "arbetsmiljo", "administration")
              for col in ("per_timme", "period")}
    sure = _reading("kostnad.antal_timmar", "hours", "1542", 0.999, "ok")  # (so no digit of it is tried)
    t = _table(kostnad_antal_timmar=sure, kostnad_summa_per_timme="264.01", kostnad_summa_period="406839.41",
               **values, **unused)
    out = reconcile(form3057, t)
    assert out["kostnad.ob.per_timme"].status == "ok" and out["kostnad.omkostnader.per_timme"].status == "ok"
    assert out["kostnad.antal_timmar"] is t["kostnad.antal_timmar"]  # not confirmed
    assert out["kostnad.lon.per_timme"].status != "ok"  # the row that does pin them does not fit
    out = reconcile(form3057, t | {"kostnad.antal_timmar": _reading("kostnad.antal_timmar", "hours", "1541")})
    assert out["kostnad.antal_timmar"].status == "ok"  # read right, the whole table adds up
    # read doubtfully, the 2 is tried as every other digit: only 1541 makes the table add up
    out = reconcile(form3057, t | {"kostnad.antal_timmar": _reading("kostnad.antal_timmar", "hours", "1542")})
    assert out["kostnad.antal_timmar"].value == "1541" and out["kostnad.antal_timmar"].status == "low_confidence"


@pytest.mark.parametrize("hours", [None, "112", "1720.00"])
def test_the_rows_stay_as_read_without_hours_they_fit(form3057, hours):
    t = _table(kostnad_antal_timmar=hours, kostnad_ob_period="4428.84")
    out = reconcile(form3057, t)
    assert all(out[fid] is r for fid, r in t.items() if fid != "kostnad.antal_timmar")
    if hours is None:
        assert out["kostnad.antal_timmar"] is t["kostnad.antal_timmar"]
    else:  # six rows fit them no way, each read at 0.8 × 0.8: 0.8·0.36⁶ / (0.8·0.36⁶ + 0.2·0.64⁶)
        assert out["kostnad.antal_timmar"].confidence == pytest.approx(0.112, abs=0.001)
        assert out["kostnad.antal_timmar"].detail["sums"] == "no row fits the hours"


def test_sure_hours_that_no_row_fits_go_to_an_operator(form3057):
    # 172 hours read 1721 (a stroke after it read as a 1) at 0.97: every row's cost per hour
    # times the hours is ten times its period cost
    out = reconcile(form3057, _table(kostnad_antal_timmar=_reading("kostnad.antal_timmar", "hours", "1721", 0.97, "ok")))
    r = out["kostnad.antal_timmar"]
    assert (r.value, r.status) == ("1721", "low_confidence")  # not changed: which digit is not known
    # one row alone that fits no way does not say that the hours are wrong
    t = _table(kostnad_antal_timmar=_reading("kostnad.antal_timmar", "hours", "172", 0.97, "ok"),
               kostnad_ob_period="4428.84")
    assert reconcile(form3057, t)["kostnad.antal_timmar"].detail.get("sums") != "no row fits the hours"


def test_an_unused_cost_type_is_both_empty(form3057):
    rate, period = ROWS["utbildning"]
    total = (f"{float(TOTAL[0]) - float(rate):.2f}", f"{float(TOTAL[1]) - float(period):.2f}")
    t = _table(kostnad_utbildning_per_timme=None, kostnad_utbildning_period=None,
               kostnad_summa_per_timme=total[0], kostnad_summa_period=total[1])
    out = reconcile(form3057, t)
    assert out["kostnad.summa.period"].detail["sums"] == "confirmed"
    assert out["kostnad.utbildning.period"].status == "empty"


def test_the_cost_table_names_fields_of_the_form(form3057):
    (table,) = form3057.cost_tables
    ids = [table.hours, *(f for row in table.rows for f in row), *table.total]
    assert len(ids) == 15 and all(i in form3057.fields_by_id for i in ids)
    assert form3057.fields_by_id[table.hours].kind == FieldKind.hours
    assert all(form3057.fields_by_id[i].kind == FieldKind.amount for i in ids[1:])


# --- a 3059's rows against page 3's totals ------------------------------------------------------

# (day, from, to, kind) as a sender writes them; aktiv 7.00–15.30 + 22.00–06.00 (over midnight)
# = 16 h 30 min, beredskap 15.30–20.00 = 4 h 30 min.
TIME_ROWS = [("3", "07.00", "15.30", "aktiv"), ("3", "15.30", "20.00", "beredskap"), ("4", "22.00", "06.00", "aktiv")]
SUMMA = {"aktiv": ("16", "30"), "beredskap": ("4", "30")}


@pytest.fixture(scope="module")
def form3059(registry):
    return registry.get("3059", "016F003")


def _rows(**read_as) -> dict[str, Reading]:
    """The rows' and totals' readings: times doubtful (0.8), days and marks accepted; each as
    written unless ``read_as`` says otherwise (field id with dots as underscores → Reading)."""
    out = {}
    for n, (day, start, end, kind) in enumerate(TIME_ROWS, 1):
        out[f"rows.{n}.dag"] = _reading(f"rows.{n}.dag", "day", day, 0.999, "ok")
        out[f"rows.{n}.from"] = _reading(f"rows.{n}.from", "clock_time", start)
        out[f"rows.{n}.tom"] = _reading(f"rows.{n}.tom", "clock_time", end)
        for k in ("aktiv", "vantetid", "beredskap"):
            out[f"rows.{n}.{k}"] = Reading(f"rows.{n}.{k}", FieldKind.checkbox, 2, (0, 0, 1, 1), k == kind, 0.99,
                                           "ok" if k == kind else "empty", k == kind)
    for k, (h, m) in SUMMA.items():
        out[f"summa.{k}.timmar"] = _reading(f"summa.{k}.timmar", "hours", h)
        out[f"summa.{k}.minuter"] = _reading(f"summa.{k}.minuter", "minutes", m)
    return {fid: read_as.get(fid.replace(".", "_"), r) for fid, r in out.items()}


def test_rows_that_add_up_to_their_total_are_confirmed(form3059):
    out = reconcile(form3059, _rows())
    confirmed = {fid for fid, r in out.items() if r.detail.get("sums") == "confirmed"}
    assert confirmed == {"rows.1.from", "rows.1.tom", "rows.2.from", "rows.2.tom", "rows.3.from", "rows.3.tom",
                         "summa.aktiv.timmar", "summa.aktiv.minuter", "summa.beredskap.timmar", "summa.beredskap.minuter"}
    assert all(out[f].status == "ok" and out[f].value == _rows()[f].value for f in confirmed)
    assert out["rows.1.dag"].detail == {}  # a day is not in the sum


def test_rows_that_do_not_add_up_are_left_as_read(form3059):
    # 15.30 read 15.50: aktiv is 20 minutes over its total; beredskap still adds up on its own
    out = reconcile(form3059, _rows(rows_1_tom=_reading("rows.1.tom", "clock_time", "15.50")))
    assert {f for f, r in out.items() if r.status == "low_confidence"} == {
        "rows.1.from", "rows.1.tom", "rows.3.from", "rows.3.tom", "summa.aktiv.timmar", "summa.aktiv.minuter"}
    assert out["rows.2.tom"].status == "ok"


def test_a_doubt_the_sum_cannot_decide_stays(form3059):
    """Read 7.00–15.30 or 1.00–9.30 alike (a 7 like a 1, twice): both last 8 h 30 min."""
    doubt = dict(confidence=0.6, alternatives=(("01.00", 0.4),))
    out = reconcile(form3059, _rows(rows_1_from=_reading("rows.1.from", "clock_time", "07.00", **doubt),
                                    rows_1_tom=_reading("rows.1.tom", "clock_time", "15.30", confidence=0.6,
                                                        alternatives=(("09.30", 0.4),))))
    assert out["rows.1.from"].status == "low_confidence" and out["rows.1.tom"].status == "low_confidence"


def test_an_unsure_mark_keeps_its_kinds_rows_as_read(form3059):
    mark = Reading("rows.2.beredskap", FieldKind.checkbox, 2, (0, 0, 1, 1), True, 0.6, "low_confidence", True)
    out = reconcile(form3059, _rows(rows_2_beredskap=mark))
    assert out["rows.2.from"].status == "low_confidence" and out["summa.beredskap.timmar"].status == "low_confidence"
    assert out["rows.1.from"].status == "ok"  # aktiv adds up without that row


def test_a_misread_time_is_shown_as_its_alternative_that_adds_up(form3059):
    # 15.30 read 15.50 (a 3 like a 5), 15.30 its second reading: aktiv adds up only with it
    misread = _reading("rows.1.tom", "clock_time", "15.50", 0.7, alternatives=(("15.30", 0.2), ("13.50", 0.05)))
    out = reconcile(form3059, _rows(rows_1_tom=misread))
    r = out["rows.1.tom"]
    assert (r.value, r.status, r.confidence) == ("15.30", "low_confidence", 0.5)  # for an operator, not accepted
    assert r.alternatives[0] == ("15.50", 0.7) and r.detail == {"sums": "corrected to the total", "read_as": "15.50"}
    assert out["rows.3.from"].value == "22.00" and out["rows.3.from"].detail == {}  # the rest as read


def test_the_total_itself_is_shown_as_its_alternative_that_adds_up(form3059):
    out = reconcile(form3059, _rows(summa_aktiv_timmar=_reading("summa.aktiv.timmar", "hours", "18", 0.6,
                                                                alternatives=(("16", 0.3),))))
    assert (out["summa.aktiv.timmar"].value, out["summa.aktiv.timmar"].status) == ("16", "low_confidence")


def test_an_unlikely_alternative_does_not_outweigh_a_senders_wrong_total(form3059):
    # the sender wrote 17 h 30 min for aktiv's 16 h 30 min; 15.30 could be 16.30 only at 1 to 90
    doubt = _reading("rows.1.tom", "clock_time", "15.30", 0.9, alternatives=(("16.30", 0.01),))
    out = reconcile(form3059, _rows(rows_1_tom=doubt, summa_aktiv_timmar=_reading("summa.aktiv.timmar", "hours", "17")))
    assert out["rows.1.tom"].value == "15.30" and out["rows.1.tom"].detail == {}
    # likelier than the slip, it is shown first
    doubt = _reading("rows.1.tom", "clock_time", "15.30", 0.7, alternatives=(("16.30", 0.25),))
    out = reconcile(form3059, _rows(rows_1_tom=doubt, summa_aktiv_timmar=_reading("summa.aktiv.timmar", "hours", "17")))
    assert out["rows.1.tom"].value == "16.30"


def test_a_time_accepted_as_read_goes_to_an_operator_when_the_total_says_so(form3059):
    sure = _reading("rows.1.tom", "clock_time", "15.50", 0.999, "ok", alternatives=(("15.30", 0.001),))
    r = reconcile(form3059, _rows(rows_1_tom=sure))["rows.1.tom"]
    assert (r.value, r.status) == ("15.50", "low_confidence")  # 15.30, the only way to add up, is 1 in 50
    assert r.detail == {"sums": "another reading adds up", "read_confidence": 0.999}
    # an alternative that adds up at a millionth is no doubt against a sender's slip in the total
    sure = _reading("rows.1.tom", "clock_time", "15.50", 0.999999, "ok", alternatives=(("15.30", 1e-6),))
    assert reconcile(form3059, _rows(rows_1_tom=sure))["rows.1.tom"].status == "ok"
    # accepted as read, but the readers' alternative that adds up is the likelier way the rows
    # can be (seed 101: a hand-written total "137" read "187" on the printed path, 0.985, the
    # digit readers' 137 at 0.43): shown with it, never accepted
    sure = _reading("summa.aktiv.timmar", "hours", "26", 0.985, "ok", alternatives=(("16", 0.43),))
    r = reconcile(form3059, _rows(summa_aktiv_timmar=sure))["summa.aktiv.timmar"]
    assert (r.value, r.status, r.confidence) == ("16", "low_confidence", defs.SUMS_SLIP_CONFIDENCE)
    assert r.detail["sums"] == "corrected to the total" and r.alternatives[0] == ("26", 0.985)


def test_two_alternatives_that_add_up_alike_decide_nothing(form3059):
    # 7.00 read 9.00 leaves aktiv 2 hours short: 9.00 may be 7.00, but row 3's 22.00 may as
    # well be 20.00, which closes the gap as much
    out = reconcile(form3059, _rows(
        rows_1_from=_reading("rows.1.from", "clock_time", "09.00", 0.7, alternatives=(("07.00", 0.25),)),
        rows_3_from=_reading("rows.3.from", "clock_time", "22.00", 0.7, alternatives=(("20.00", 0.25),))))
    assert out["rows.1.from"].value == "09.00" and out["rows.3.from"].value == "22.00"


@pytest.mark.parametrize("second", ["rows_1_tom", "rows_3_tom"])
def test_two_misread_times_are_shown_as_the_pair_of_alternatives_that_adds_up(form3059, second):
    # 7.00 read 9.00 and a 15.30 (or row 3's 6.00) read 2 hours short: aktiv is 4 hours short,
    # which no one alternative closes and these two together do
    fid = second.replace("_", ".")
    truth = {"rows.1.tom": "15.30", "rows.3.tom": "06.00"}[fid]
    read_as = {"rows.1.tom": "13.30", "rows.3.tom": "04.00"}[fid]
    out = reconcile(form3059, _rows(
        rows_1_from=_reading("rows.1.from", "clock_time", "09.00", 0.7, alternatives=(("07.00", 0.25),)),
        **{second: _reading(fid, "clock_time", read_as, 0.7, alternatives=((truth, 0.25),))}))
    for f, value in (("rows.1.from", "07.00"), (fid, truth)):
        assert (out[f].value, out[f].status) == (value, "low_confidence"), f  # shown, never accepted
        assert out[f].detail["sums"] == "corrected to the total"
    # one of the two only at the readers' floor: the sender's slip in the total is likelier
    out = reconcile(form3059, _rows(
        rows_1_from=_reading("rows.1.from", "clock_time", "09.00", 0.7, alternatives=(("07.00", 0.25),)),
        **{second: _reading(fid, "clock_time", read_as, 0.7, alternatives=((truth, 0.001),))}))
    assert out["rows.1.from"].value == "09.00" and out[fid].value == read_as
