"""The sample generator's content: values consistent with the templates, faults with their outcomes."""

from __future__ import annotations

import calendar
import copy
from collections import Counter, defaultdict
from datetime import date

import numpy as np
import pytest

from pipeline.forms import FieldKind
from pipeline.ids import is_valid_organisationsnummer, is_valid_personnummer
from pipeline.synth.content import (
    COST_PER_HOUR_KR,
    FAULT_FORMS,
    FAULTS,
    TIME_KINDS,
    DocumentTruth,
    Row,
    apply_fault,
    build_time_case,
    canonical_ok,
    case_documents,
    check_rules,
    deadline_for,
    expected_outcome,
    generate_documents,
    is_handwritten,
    is_late,
    parse_time,
    plan_month,
    rows_totals_from_values,
    totals,
)

RULE_FAULTS = {"missing_signature", "unmarked_mandatory", "empty_required"}
N_DOCS = 400


@pytest.fixture(scope="module")
def docs(registry) -> list[DocumentTruth]:
    return generate_documents(registry, np.random.default_rng(2025), N_DOCS)


def _tmpl(registry, d: DocumentTruth):
    return registry.get(d.form, d.version)


def _minutes(values, prefix, kind):
    return int(values.get(f"{prefix}.{kind}.timmar", "0")) * 60 + int(values.get(f"{prefix}.{kind}.minuter", "0"))


# --- determinism and mix ----------------------------------------------------------------------

def test_same_seed_same_json(registry):
    a = generate_documents(registry, np.random.default_rng(7), 60)
    b = generate_documents(registry, np.random.default_rng(7), 60)
    c = generate_documents(registry, np.random.default_rng(8), 60)
    dump = lambda ds: [d.model_dump_json() for d in ds]  # noqa: E731
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)
    # JSON round trip keeps every value's type (bool stays bool, "0" stays a string).
    assert [DocumentTruth.model_validate_json(j) for j in dump(a)] == a


def test_count_and_mix(registry, docs):
    assert len(docs) == N_DOCS
    forms = Counter(d.form for d in docs)
    assert forms["3059"] > forms["3057"] > 0
    assert forms["3059"] + forms["3057"] > 0.75 * N_DOCS
    for f in ("3066", "3080"):
        if f in registry.forms():
            assert forms[f] > 0
    versions = Counter((d.form, d.version) for d in docs if d.form == "3059")
    newest = registry.get("3059").version
    assert versions[("3059", newest)] > 0.6 * forms["3059"]
    if len(versions) > 1:
        assert sum(n for (f, v), n in versions.items() if v != newest) > 0
    assert set(Counter(d.style for d in docs)) == {"typed", "hand", "mixed"}
    faulty = sum(bool(d.faults) for d in docs) / len(docs)
    assert 0.12 < faulty < 0.45
    assert {f for d in docs for f in d.faults} >= set(FAULTS) - {"late"}


def test_case_groups_a_3057_with_its_3059s(docs):
    by_case = defaultdict(list)
    for d in docs:
        by_case[d.case_id].append(d)
    for case_id, ds in by_case.items():
        forms = Counter(d.form for d in ds)
        if "3057" in forms or "3059" in forms:
            assert forms["3057"] == 1 and 1 <= forms["3059"] <= 4, case_id
            assert len({d.month for d in ds}) == 1
            assert len({d.values["person.personnummer"] for d in ds if "person.personnummer" in d.values
                        and "bad_luhn" not in d.faults}) <= 1
            assert len({d.version for d in ds if d.form == "3059"}) == 1
        else:
            assert len(ds) == 1
        assert len({d.received_date for d in ds}) == 1
        assert len({d.doc_id for d in ds}) == len(ds)


def test_styles_and_versions_can_be_chosen(registry):
    old = [t.version for t in registry if t.form == "3059"][0]
    ds = generate_documents(registry, np.random.default_rng(3), 30, styles=("hand",), versions={"3059": old}, fault_rate=0.0)
    assert {d.style for d in ds} == {"hand"}
    assert {d.version for d in ds if d.form == "3059"} == {old}
    assert all(not d.faults and d.expected_route == "validation" for d in ds)
    with pytest.raises(ValueError, match="unknown style"):
        generate_documents(registry, np.random.default_rng(3), 5, styles=("crayon",))


# --- values against the templates -------------------------------------------------------------

def test_field_ids_exist_and_values_are_canonical(registry, docs):
    for d in docs:
        t = _tmpl(registry, d)
        for k, v in d.values.items():
            assert k in t.fields_by_id, f"{d.doc_id}: {k} is not a field of {t.key}"
            assert canonical_ok(t.fields_by_id[k].kind, v), f"{d.doc_id}: {k}={v!r} not canonical"
        for k in d.illegible:
            assert k in d.values and is_handwritten(d.style, k, t.fields_by_id[k].kind)


def test_identity_numbers_valid_unless_bad_luhn(registry, docs):
    seen_bad = 0
    for d in docs:
        t = _tmpl(registry, d)
        bad = []
        for k, v in d.values.items():
            kind = t.fields_by_id[k].kind
            if kind == FieldKind.personnummer and not is_valid_personnummer(v):
                bad.append(k)
            if kind == FieldKind.organisationsnummer and not is_valid_organisationsnummer(v):
                bad.append(k)
        if "bad_luhn" in d.faults:
            assert bad, d.doc_id
            assert len({d.values[k] for k in bad}) == 1  # one number, written the same everywhere
            seen_bad += 1
        else:
            assert not bad, f"{d.doc_id}: {bad}"
    assert seen_bad > 0


def test_fault_free_documents_satisfy_the_template(registry, docs):
    checked = 0
    for d in docs:
        if RULE_FAULTS & set(d.faults):
            continue
        violations = check_rules(_tmpl(registry, d), d.values)
        assert not violations, f"{d.doc_id}: {[str(v) for v in violations]}"
        checked += 1
    assert checked > 0.7 * len(docs)


def test_rule_faults_break_exactly_their_rule(registry, docs):
    seen = Counter()
    for d in docs:
        for fault in RULE_FAULTS & set(d.faults):
            violations = check_rules(_tmpl(registry, d), d.values)
            codes = Counter({"unmarked": "unmarked_mandatory"}.get(v.code, v.code) for v in violations)
            assert codes == Counter({fault: 1}), f"{d.doc_id} {fault}: {[str(v) for v in violations]}"
            seen[fault] += 1
    assert set(seen) == RULE_FAULTS


def test_conditional_fields_follow_the_answers(docs):
    for d in docs:
        v = d.values
        if v.get("anordnare.sjalv"):
            assert not any(k.startswith(("anordnare.name", "anordnare.orgnr", "arbetsgivare.")) for k in v), d.doc_id
        if not v.get("arbetsgivare.nej_uppdragsgivare"):
            assert "arbetsgivare.name" not in v and "arbetsgivare.orgnr" not in v
        if "bosatt_utanfor_ees.adress" in v:
            assert v.get("bosatt_utanfor_ees.ja") is True
        if not v.get("sjukhus.ja"):
            assert not any(k.startswith("sjukhus.1.") for k in v)
        if "efterskott.kvar_kronor" in v:
            assert v.get("efterskott.nej") is True
        if "forskott.kvar_kronor" in v:
            assert v.get("forskott.kvar_ja") is True
        if d.form == "3080":
            assert v["assistent.anstallningsdatum"] <= v["retroaktiv.from"] <= v["retroaktiv.tom"]
            assert 1 <= int(v["omfattning.timmar_per_vecka"]) <= 40


# --- the time rows ----------------------------------------------------------------------------

def _rows(values):
    nums = sorted({int(k.split(".")[1]) for k in values if k.startswith("rows.")})
    return nums, [(int(values[f"rows.{n}.dag"]), values[f"rows.{n}.from"], values[f"rows.{n}.tom"],
                   [k for k in TIME_KINDS if values.get(f"rows.{n}.{k}") is True]) for n in nums]


def test_rows_are_a_plausible_month(registry, docs):
    kinds_seen, crossing = Counter(), 0
    for d in (d for d in docs if d.form == "3059"):
        t = _tmpl(registry, d)
        cap = len({f.row for f in t.fields_by_id.values() if f.table == "rows"})
        nums, rows = _rows(d.values)
        assert nums == list(range(1, len(nums) + 1)) and 0 < len(nums) <= cap
        y, m = (int(x) for x in d.month.split("-"))
        ndays = calendar.monthrange(y, m)[1]
        intervals = []
        for day, start, end, kinds in rows:
            assert 1 <= day <= ndays
            assert len(kinds) == 1
            kinds_seen[kinds[0]] += 1
            s, e = parse_time(start), parse_time(end)
            assert s % 5 == 0 and e % 5 == 0 and s != e
            crossing += e < s
            a = (day - 1) * 1440 + s
            intervals.append((a, a + (e - s) % 1440))
        intervals.sort()
        assert all(b[0] >= a[1] for a, b in zip(intervals, intervals[1:])), f"{d.doc_id}: overlapping rows"
        assert intervals[-1][1] <= ndays * 1440, f"{d.doc_id}: a row ends after the month"
    assert all(kinds_seen[k] > 0 for k in TIME_KINDS)
    assert kinds_seen["aktiv"] > kinds_seen["vantetid"] + kinds_seen["beredskap"]
    assert crossing > 0


def test_summa_equals_rows_unless_summa_mismatch(docs):
    mismatches = 0
    for d in (d for d in docs if d.form == "3059"):
        rows = rows_totals_from_values(d.values)
        summa = {k: _minutes(d.values, "summa", k) for k in TIME_KINDS}
        if "summa_mismatch" in d.faults:
            assert summa != rows
            mismatches += 1
        else:
            assert summa == rows, d.doc_id
    assert mismatches > 0


def test_3057_totals_equal_its_3059s_unless_totals_mismatch(docs):
    by_case = defaultdict(list)
    for d in docs:
        by_case[d.case_id].append(d)
    seen = 0
    for ds in by_case.values():
        invoice = [d for d in ds if d.form == "3057"]
        if not invoice:
            continue
        (inv,) = invoice
        want = {k: sum(rows_totals_from_values(d.values)[k] for d in ds if d.form == "3059") for k in TIME_KINDS}
        got = {k: _minutes(inv.values, "tid", k) for k in TIME_KINDS}
        if "totals_mismatch" in inv.faults:
            assert got != want
            seen += 1
        else:
            assert got == want, inv.doc_id
    assert seen > 0


def test_costs_are_consistent(docs):
    seen = 0
    for d in docs:
        v = d.values
        if "kostnad.summa.period" not in v:
            continue
        seen += 1
        ore = lambda k: round(float(v[k]) * 100)  # noqa: E731
        types = ("lon", "ob", "omkostnader", "utbildning", "arbetsmiljo", "administration")
        assert ore("kostnad.summa.period") == sum(ore(f"kostnad.{t}.period") for t in types)
        assert ore("kostnad.summa.per_timme") == sum(ore(f"kostnad.{t}.per_timme") for t in types)
        hours = int(v["kostnad.antal_timmar"])
        for t in types:
            assert abs(ore(f"kostnad.{t}.per_timme") * hours - ore(f"kostnad.{t}.period")) <= hours
        if "forskott.tom" not in v and "totals_mismatch" not in d.faults:
            total = sum(_minutes(v, "tid", k) for k in TIME_KINDS)
            assert hours == max(1, round(total / 60))
        lo = sum(a for a, _ in COST_PER_HOUR_KR.values())
        hi = sum(b for _, b in COST_PER_HOUR_KR.values())
        assert lo - 0.1 <= float(v["kostnad.summa.per_timme"]) <= hi + 0.1
    assert seen > 0


def test_row_minutes_across_midnight():
    night = Row(3, 22 * 60, 7 * 60, "beredskap")
    assert night.minutes == 9 * 60 and night.crosses_midnight
    assert totals([night, Row(4, 7 * 60, 7 * 60 + 30, "aktiv")]) == {"aktiv": 30, "vantetid": 0, "beredskap": 540}
    assert rows_totals_from_values({"rows.1.dag": "3", "rows.1.from": "22.00", "rows.1.tom": "07.00",
                                    "rows.1.beredskap": True}) == {"aktiv": 0, "vantetid": 0, "beredskap": 540}


@pytest.mark.parametrize("cap", [40, 80, 3])
def test_plan_month_respects_the_row_cap(cap):
    for seed in range(20):
        plans = plan_month(np.random.default_rng(seed), 2024, 2, [cap] * 4)
        assert all(len(p) <= cap for p in plans)
        assert all(r.day <= 29 for p in plans for r in p)


# --- faults and outcomes ----------------------------------------------------------------------

def test_route_precedence_and_flags():
    assert expected_outcome([]) == ("validation", [], [])
    assert expected_outcome(["late"]) == ("validation", [], ["late"])
    assert expected_outcome(["summa_mismatch", "illegible"]) == ("review", ["illegible"], ["summa_mismatch"])
    assert expected_outcome(["illegible", "missing_signature"])[0] == "completion"
    assert expected_outcome(["bad_luhn", "totals_mismatch"]) == ("completion", ["bad_luhn", "totals_mismatch"], [])


def test_every_document_route_follows_the_table(docs):
    for d in docs:
        assert (d.expected_route, d.reasons) == expected_outcome(d.faults)[:2]
        assert set(d.flags) >= set(expected_outcome(d.faults)[2])


def _clean_case(registry, seed, *, style="hand"):
    rng = np.random.default_rng(seed)
    case = build_time_case(registry, rng, f"t{seed}", 2)
    return case, case_documents(registry, case, rng, (style,)), rng


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_gives_its_outcome(registry, fault):
    applied = 0
    for seed in range(40):
        if applied >= 6:
            break
        _, ds, rng = _clean_case(registry, seed)
        for d in ds:
            if d.form not in FAULT_FORMS[fault]:
                continue
            before = copy.deepcopy(d)
            t = _tmpl(registry, d)
            if not apply_fault(d, t, fault, rng):
                continue
            d.finalize()
            applied += 1
            o = FAULTS[fault]
            if o.route is None:
                assert d.expected_route == "validation" and d.flags == [o.code] and d.reasons == []
            else:
                assert d.expected_route == o.route and d.reasons == [o.code] and d.flags == []
            changed = {k for k in set(d.values) | set(before.values) if d.values.get(k) != before.values.get(k)}
            if fault == "missing_signature":
                (k,) = changed
                assert d.values[k] is False and t.fields_by_id[k].kind == FieldKind.signature
            elif fault == "empty_required":
                (k,) = changed
                assert k not in d.values
            elif fault == "unmarked_mandatory":
                assert changed and all(t.fields_by_id[k].kind == FieldKind.checkbox for k in changed)
            elif fault == "illegible":
                assert not changed and len(d.illegible) == 1
            elif fault == "late":
                assert not changed and is_late(d.month, d.received_date)
                assert not is_late(before.month, before.received_date)
            elif fault == "bad_luhn":
                assert changed and len({before.values[k] for k in changed}) == 1
            elif fault in ("totals_mismatch", "summa_mismatch"):
                prefix = "tid." if fault == "totals_mismatch" else "summa."
                assert changed and all(k.startswith(prefix) for k in changed)
    assert applied > 0, f"{fault} never applied"


def test_apply_fault_refuses_what_does_not_fit(registry):
    _, ds, rng = _clean_case(registry, 1, style="typed")
    inv = next(d for d in ds if d.form == "3057")
    tr = next(d for d in ds if d.form == "3059")
    assert not apply_fault(tr, _tmpl(registry, tr), "totals_mismatch", rng)
    assert not apply_fault(inv, _tmpl(registry, inv), "summa_mismatch", rng)
    assert not apply_fault(inv, _tmpl(registry, inv), "illegible", rng)  # typed: nothing handwritten but the signature
    with pytest.raises(ValueError, match="unknown fault"):
        apply_fault(inv, _tmpl(registry, inv), "coffee_stain", rng)


def test_samordningsnummer_assistants_are_flagged_on_registrations(registry, docs):
    from pipeline.ids import Personnummer

    for d in docs:
        if d.form in ("3066", "3080") and "bad_luhn" not in d.faults and "assistent.personnummer" in d.values:
            samordning = Personnummer.parse(d.values["assistent.personnummer"]).is_samordningsnummer
            assert ("samordningsnummer" in d.flags) == samordning, d.doc_id
    ds = generate_documents(registry, np.random.default_rng(5), 300, fault_rate=0.0)
    assert all(set(d.flags) <= {"samordningsnummer"} for d in ds)


def test_deadline_rule(docs):
    assert deadline_for("2024-09") == date(2024, 11, 5)
    assert deadline_for("2024-12") == date(2025, 2, 5)
    assert not is_late("2024-09", "2024-11-05") and is_late("2024-09", "2024-11-06")
    for d in docs:
        if d.month is None:
            continue
        assert is_late(d.month, d.received_date) == ("late" in d.faults), d.doc_id
        assert d.received_date > d.values.get("underskrift.datum", "")


# --- the rule evaluator itself ----------------------------------------------------------------

def test_check_rules_on_crafted_values(registry):
    t = registry.get("3059")
    rng = np.random.default_rng(11)
    case = build_time_case(registry, rng, "t11", 1, versions={"3059": t.version})
    v = dict(next(d for d in case_documents(registry, case, rng, ("typed",)) if d.form == "3059").values)
    assert check_rules(t, v) == []
    codes = lambda vals: sorted((x.code, x.target) for x in check_rules(t, vals))  # noqa: E731
    assert codes({**v, "kollektivavtal.ja": True, "kollektivavtal.nej": True}) == [("multiple_marked", "kollektivavtal")]
    w = {k: x for k, x in v.items() if not k.startswith("kollektivavtal.")}
    assert codes(w) == [("unmarked", "kollektivavtal")]
    assert codes({k: x for k, x in v.items() if k != "person.name"}) == [("empty_required", "person.name")]
    assert codes({**v, "assistent_underskrift.signatur": False}) == [("missing_signature", "assistent_underskrift.signatur")]
    # A row with only a day: its times and its kind are missing.
    last = max(f.row for f in t.fields_by_id.values() if f.table == "rows")
    assert codes({**v, f"rows.{last}.dag": "3"}) == [
        ("empty_required", f"rows.{last}.from"), ("empty_required", f"rows.{last}.tom"), ("unmarked", f"rows.{last}.kind")]
    # Provider details are needed only when the person uses a provider.
    if "anordnare.anlitar" in v:
        w = {k: x for k, x in v.items() if k != "anordnare.orgnr"}
        assert codes(w) == [("empty_required", "anordnare.orgnr")]
