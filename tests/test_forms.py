"""Template loading: every committed template is valid; every kind of mistake is refused with
a message that names the file, the key and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.errors import TemplateError, UnknownFormError
from pipeline.forms import FORMS_DIR, FieldKind, TemplateRegistry, load_template

MINIMAL = {
    "form": "3059",
    "version": "099F001",
    "title": "Test",
    "footer": "FK 3059 (099 F 001) Test",
    "page_size": [210.0, 297.0],
    "pages": [{
        "number": 1, "skanningsid": "30590106",
        "skanningsid_box": [9.0, 160.0, 2.6, 15.0], "footer_box": [10.0, 230.0, 2.3, 58.0],
        "drawing": [{"rect": [15.0, 68.5, 180.0, 9.0]}, {"text": "1. Rubrik", "at": [16.0, 66.0], "bold": True}],
        "fields": [
            {"id": "person.name", "kind": "text", "box": [15.0, 68.5, 135.0, 9.0], "required": True},
            {"id": "kollektivavtal.ja", "kind": "checkbox", "box": [17.5, 127.0, 4.5, 4.5]},
            {"id": "kollektivavtal.nej", "kind": "checkbox", "box": [40.0, 127.0, 4.5, 4.5]},
        ],
        "groups": [{"id": "kollektivavtal", "rule": "exactly_one", "members": ["kollektivavtal.ja", "kollektivavtal.nej"]}],
        "tables": [{
            "id": "rows", "origin": [15.0, 140.0], "rows": 3, "row_pitch": 9.0, "block_offsets": [0.0, 92.5],
            "columns": [{"id": "dag", "kind": "day", "box": [0.0, 0.0, 8.0, 9.0], "required_when": ["@row"]},
                        {"id": "aktiv", "kind": "checkbox", "box": [41.0, 2.0, 4.5, 4.5], "frame": "box"},
                        {"id": "vantetid", "kind": "checkbox", "box": [51.0, 2.0, 4.5, 4.5], "frame": "box"}],
            "groups": [{"id": "kind", "rule": "exactly_one", "members": ["aktiv", "vantetid"]}],
        }],
    }],
}


def _write(tmp_path: Path, data: dict, name: str | None = None) -> Path:
    folder = tmp_path / data.get("form", "3059")
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (name or f"{data.get('version', '099F001')}.yaml")
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def _broken(**changes) -> dict:
    import copy

    d = copy.deepcopy(MINIMAL)
    for path, value in changes.items():
        node = d
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is KeyError:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return d


def test_committed_templates_load(registry):
    keys = {t.key for t in registry}
    assert {"3059/016F003", "3059/015F001", "3057/016F002", "3066/004F005", "3080/001P001"} <= keys
    assert registry.get("3080").provisional
    assert registry.get("3059").version == "016F003"  # newest by default
    t = registry.get("3059", "016F003")
    assert [p.skanningsid for p in t.pages] == ["30590106", "30590206", "30590306"]
    rows = [f for f in t.expanded_fields() if f.table == "rows"]
    assert len({f.row for f in rows}) == 80 and {f.column for f in rows} == {"dag", "from", "tom", "aktiv", "vantetid", "beredskap"}
    assert t.fields_by_id["rows.41.dag"].page == 3
    assert t.version_label == "016 F 003"


def test_every_form_of_the_brief_has_its_key_fields(registry):
    need = {
        "3059": ["person.personnummer", "assistent.personnummer", "kollektivavtal.ja", "anordnare.sjalv",
                 "underskrift.signatur", "assistent_underskrift.signatur", "summa.aktiv.timmar", "rows.80.beredskap"],
        "3057": ["person.personnummer", "tid.aktiv.timmar", "daglig_verksamhet.ja", "daglig_verksamhet.nej",
                 "underskrift.signatur", "kostnad.lon.per_timme", "kostnad.antal_timmar"],
        "3066": ["assistent.anstallningsdatum", "bosatt_utanfor_ees.adress", "underskrift.signatur"],
        "3080": ["retroaktiv.from", "retroaktiv.tom", "omfattning.timmar_per_vecka", "underskrift.signatur"],
    }
    for form, ids in need.items():
        t = registry.get(form)
        missing = [i for i in ids if i not in t.fields_by_id]
        assert not missing, (form, missing)
    t = registry.get("3057")
    groups = {g.id: g for g, _ in t.groups()}
    assert groups["daglig_verksamhet"].rule == "exactly_one" and groups["daglig_verksamhet"].required_when == []
    assert t.fields_by_id["underskrift.signatur"].kind == FieldKind.signature


def test_signature_dates_under_a_months_hours_lean_to_the_month(registry):
    """``after_month_start`` (read/parse.date_prior) is on the signature dates of the forms
    that report a month's hours, and on no other field."""
    for t in registry:
        flagged = {f.id for f in t.expanded_fields() if f.after_month_start}
        signed = {f.id for f in t.expanded_fields() if f.kind == FieldKind.date and f.id.endswith("underskrift.datum")}
        assert flagged == (signed if t.form in ("3057", "3059") else set()), t.key


def test_periods_are_ordered_from_start_to_end(registry):
    """``ordered`` (read/order.py): each list runs from a "från och med" to its "till och
    med", and a 3059's calculation periods follow one another."""
    for t in registry:
        for seq in t.ordered:
            ends = [f.rsplit(".", 1)[-1] for f in seq]
            assert ends == [e for _ in range(len(seq) // 2) for e in ("from", "tom")] or \
                ends == [e for _ in range(len(seq) // 2) for e in ("from_datum", "tom_datum")], (t.key, seq)
    assert len(registry.get("3059", "016F003").ordered[0]) == 12
    assert ["retroaktiv.from", "retroaktiv.tom"] in registry.get("3080").ordered


def test_registry_lookups(registry):
    assert {t.version for t, _ in registry.by_skanningsid("30590106")} == {"016F003", "015F001"}
    assert registry.by_skanningsid("99999999") == []
    with pytest.raises(UnknownFormError, match="known versions"):
        registry.get("3059", "001F001")
    with pytest.raises(UnknownFormError):
        registry.get("1234")


def test_minimal_template_loads(tmp_path):
    t = load_template(_write(tmp_path, MINIMAL))
    ids = [f.id for f in t.expanded_fields()]
    assert "rows.6.vantetid" in ids and len(ids) == 3 + 6 * 3
    assert t.fields_by_id["rows.4.dag"].box[0] == pytest.approx(15.0 + 92.5)
    groups = {g.id: g for g, _ in t.groups()}
    assert groups["rows.2.kind"].members == ["rows.2.aktiv", "rows.2.vantetid"]
    assert groups["rows.2.kind"].required_when == ["@row:rows.2"]


@pytest.mark.parametrize("changes, message", [
    ({"pages__0__fields__0__kind": "colour"}, "pages.0.fields.0.kind"),
    ({"pages__0__fields__0__box": [15.0, 68.5, -1.0, 9.0]}, "positive width and height"),
    ({"pages__0__fields__0__id": "Person Name"}, "pages.0.fields.0.id"),
    ({"pages__0__fields__0__colour": "red"}, "Extra inputs are not permitted"),
    ({"title": KeyError}, "title"),
    ({"pages__0__skanningsid": "3059010"}, "skanningsid"),
    ({"pages__0__skanningsid": "30570106"}, "does not start with the form number"),
    ({"pages__0__fields__1__id": "person.name"}, "id used twice"),
    ({"pages__0__fields__0__box": [150.0, 68.5, 135.0, 9.0]}, "outside page 1"),
    ({"pages__0__groups__0__members": ["kollektivavtal.ja", "person.name"]}, "is a text, not a checkbox"),
    ({"pages__0__groups__0__members": ["kollektivavtal.ja", "nope"]}, "'nope' is not a field"),
    ({"pages__0__fields__0__required_when": ["kollektivavtal.kanske"]}, "names no field"),
    ({"pages__0__fields__0__required_when": ["a b"]}, "is not 'field_id'"),
    ({"pages__0__drawing__0": {"rect": [1, 2, 3, 4], "line": [1, 2, 3, 4]}}, "exactly one of rect/line/text"),
    ({"pages__0__drawing__1": {"text": "x"}}, "needs 'at"),
    ({"pages__0__fields__0__frame": "comb"}, "'comb' and 'cells' go together"),
    ({"pages__0__tables__0__groups__0__members": ["aktiv", "beredskap"]}, "'beredskap' is not a column"),
    ({"ordered": [["rows.1.dag"]]}, "is not two or more fields"),
    ({"ordered": [["rows.1.dag", "nope"]]}, "is not two or more fields"),
    ({"ordered": [["rows.1.dag", "rows.2.dag"]]}, "is not dates or months of one kind"),
])
def test_template_errors_name_the_key(tmp_path, changes, message):
    p = _write(tmp_path, _broken(**changes))
    with pytest.raises(TemplateError) as e:
        load_template(p)
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_file_name_must_match_form_and_version(tmp_path):
    p = _write(tmp_path, MINIMAL, name="other.yaml")
    with pytest.raises(TemplateError, match="belongs in forms/3059/099F001.yaml"):
        load_template(p)


def test_not_yaml_and_not_a_mapping(tmp_path):
    (tmp_path / "3059").mkdir()
    bad = tmp_path / "3059" / "099F001.yaml"
    bad.write_text("form: [unclosed", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="must hold a mapping"):
        load_template(bad)
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "3059" / "missing.yaml")


def test_empty_forms_dir(tmp_path):
    with pytest.raises(TemplateError, match="no templates found"):
        TemplateRegistry.load(tmp_path)


def test_forms_dir_holds_only_templates_and_messages():
    """forms/<form>/<version>.yaml are templates; forms/messages.yaml the reasons' sentences."""
    for p in FORMS_DIR.rglob("*"):
        if p.is_file():
            assert p.suffix == ".yaml" and (p.parent.parent == FORMS_DIR or p == FORMS_DIR / "messages.yaml"), p


def test_every_reason_code_has_both_languages():
    import yaml

    msgs = yaml.safe_load((FORMS_DIR / "messages.yaml").read_text(encoding="utf-8"))
    for code, m in msgs.items():
        if code != "kinds":
            assert m["to"] in ("sender", "operator", "handler") and m["sv"] and m["en"], code
