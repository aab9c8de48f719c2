"""The review UI's logic and HTTP surface: passwords and sessions, what each decision does to
a record, re-validation and routing when a document's last task is decided (a 3059's
invoice re-checked too), the audit log, and the app's refusals (no session, bad CSRF token,
images only by id and only from ``<data>/crops``). The browser itself: test_review_browser.py."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from pipeline import defs
from pipeline.assess import assess, record_from_values, validate
from pipeline.cli import cli
from pipeline.config import DataDir
from pipeline.record import flatten, nest
from pipeline.review import auth, decide
from pipeline.review.app import create_app, review_stats
from pipeline.store import FieldRow, OperatorSession, Store
from pipeline.synth.content import generate_documents

SHA = "cd" * 32
PASSWORD = "rätt häst batteri"
OPERATOR = "anna"


# --- a data directory with documents in review ------------------------------------------------

def _png(path, text: str, size=(90, 220)) -> None:
    img = np.full(size + (3,), 255, np.uint8)
    cv2.rectangle(img, (4, 4), (size[1] - 5, size[0] - 5), (0, 0, 0), 2)
    cv2.putText(img, text or "-", (20, size[0] * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (40, 40, 40), 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def _with_crops(record: dict, root) -> dict:
    """Crops (the value drawn) for every field with a reading, and a thumbnail per page."""
    doc = record["document_id"]
    for fid, fv in flatten(record["fields"]).items():
        if fv["status"] != "empty":
            _png(root / "crops" / doc / f"{fid}.png", decide.shown_value(fv["kind"], fv.get("read")))
            fv["crop"] = f"crops/{doc}/{fid}.png"
    for n in sorted({fv["page"] for fv in flatten(record["fields"]).values()}):
        _png(root / "crops" / doc / f"page-{n}.png", f"page {n}", size=(842, 595))
    return record


def _uncertain(record: dict, fid: str, read=None) -> None:
    fv = flatten(record["fields"])[fid]
    if read is not None:
        fv["read"] = read
    fv |= {"status": "low_confidence", "confidence": 0.5}


def build_review_data(registry, store: Store, root) -> dict:
    """One month of one person: a 3057 and its 3059s; the first 3059 in review with two uncertain
    fields (an assistant's personnummer read right, a clock time misread 08.15 for its truth),
    the second with one (a day number). The invoice waits for them (time_reports_pending)."""
    docs = generate_documents(registry, np.random.default_rng(11), 12, fault_rate=0.0, styles=("typed",))
    case_id = next(d.case_id for d in docs if d.form == "3057" and
                   sum(1 for e in docs if e.case_id == d.case_id and e.form == "3059") >= 2)
    bid = store.begin_batch("batch-review", date(2025, 10, 3))
    store.begin_file(bid, "batch-review.pdf", SHA, date(2025, 10, 3))
    out: dict = {"reports": [], "truth": {}}
    for d in (d for d in docs if d.case_id == case_id):
        rec = record_from_values(registry.get(d.form, d.version), d.values, document=d.doc_id,
                                 received=date.fromisoformat(d.received_date))
        if d.form == "3057":
            out["invoice"] = rec
            continue
        if len(out["reports"]) == 0:
            _uncertain(rec, "assistent.personnummer")
            out["truth"]["rows.1.from"] = d.values["rows.1.from"]
            _uncertain(rec, "rows.1.from", "08.15" if d.values["rows.1.from"] != "08.15" else "08.45")
        elif len(out["reports"]) == 1:
            _uncertain(rec, "rows.1.dag")
        rec = validate(assess(_with_crops(rec, root)))
        store.save_document(SHA, rec)
        out["reports"].append(rec)
    person = flatten(out["invoice"]["fields"])["person.personnummer"]["read"]
    month = flatten(out["invoice"]["fields"])["header.year_month"]["read"]
    out["invoice"] = validate(assess(out["invoice"], store.time_reports(person, month)))
    store.save_document(SHA, out["invoice"])
    out["key"] = (person, month)
    return out


@pytest.fixture
def review_store(database_url, registry, tmp_path):
    store = Store(database_url)
    case = build_review_data(registry, store, tmp_path)
    yield store, case
    store.close()


def _task(store: Store, document_id: str, field_id: str) -> dict:
    return next(t for t in store.open_review_tasks(document_id) if t["field_id"] == field_id)


# --- passwords and tokens ---------------------------------------------------------------------------

def test_passwords_are_scrypt_hashes_that_verify():
    h = auth.hash_password(PASSWORD)
    scheme, n, r, p, salt, key = h.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", defs.SCRYPT_N, defs.SCRYPT_R, defs.SCRYPT_P)
    assert PASSWORD not in h and h != auth.hash_password(PASSWORD)  # salted
    assert auth.verify_password(PASSWORD, h)
    assert not auth.verify_password(PASSWORD + "x", h)
    assert not auth.verify_password(PASSWORD, None)  # unknown operator
    assert not auth.verify_password(PASSWORD, "md5$abc")
    with pytest.raises(auth.PasswordError):
        auth.hash_password("short")
    t = auth.new_token()
    assert len(t) >= 43 and auth.token_digest(t) != t and len(auth.token_digest(t)) == 64
    assert auth.same_token(t, t) and not auth.same_token(t, None) and not auth.same_token("", "")


# --- decisions on records ----------------------------------------------------------------------------

def test_operator_values_are_parsed_as_readings_are():
    assert decide.operator_value("clock_time", " 7:30 ") == "07.30"
    assert decide.operator_value("amount", "1 234,5") == "1234.50"
    assert decide.operator_value("checkbox", "x") is True and decide.operator_value("signature", "") is False
    with pytest.raises(decide.DecisionRefused) as e:
        decide.operator_value("day", "31", month="2025-09")
    assert e.value.code == "invalid_value"
    with pytest.raises(decide.DecisionRefused) as e:
        decide.operator_value("personnummer", "198503121235")  # wrong check digit
    assert e.value.code == "invalid_value"
    with pytest.raises(decide.DecisionRefused) as e:
        decide.operator_value("text", "   ")
    assert e.value.code == "empty_value"


def test_each_decision_leaves_its_status(registry, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    case = build_review_data(registry, store, tmp_path)
    rec = json.loads(json.dumps(case["reports"][0]))
    task = {"field_id": "rows.1.from", "reason": "low_confidence"}
    truth = case["truth"]["rows.1.from"]
    change = decide.apply_decision(rec, task, "correct", truth.replace(".", ":"))
    fv = flatten(rec["fields"])["rows.1.from"]
    assert change["decision"] == "corrected" and fv["status"] == "corrected" and fv["read"] == truth
    assert change["before"].startswith("low_confidence: ") and change["after"] == f"corrected: {truth}"
    # typing what was read is accepting it
    rec2 = json.loads(json.dumps(case["reports"][0]))
    read = flatten(rec2["fields"])["assistent.personnummer"]["read"]
    change = decide.apply_decision(rec2, {"field_id": "assistent.personnummer", "reason": "low_confidence"},
                                   "correct", read)
    assert change["decision"] == "accepted"
    assert flatten(rec2["fields"])["assistent.personnummer"]["status"] == "confirmed"
    assert change["after"] == f"confirmed: {read[:8]}-****"  # a personnummer never in full in the log
    for action, status in (("unreadable", "unreadable_confirmed"), ("missing", "missing_confirmed")):
        r = json.loads(json.dumps(case["reports"][1]))
        decide.apply_decision(r, {"field_id": "rows.1.dag", "reason": "low_confidence"}, action)
        assert flatten(r["fields"])["rows.1.dag"]["status"] == status
    # a wrong check digit confirmed as written: the sender is asked for the right number
    rec3 = json.loads(json.dumps(case["reports"][0]))
    flat3 = flatten(rec3["fields"])
    pnr = flat3["assistent.personnummer"]["read"]
    flat3["assistent.personnummer"].update(read=pnr[:-1] + str((int(pnr[-1]) + 1) % 10), value=None)
    rec3["fields"] = nest(flat3, rec3["form"])
    routed = validate(assess(rec3))
    assert routed["route"] == "review" and "bad_luhn" in [r["code"] for r in routed["reasons"]]
    decide.apply_decision(routed, {"field_id": "assistent.personnummer", "reason": "bad_luhn"}, "accept")
    assert flatten(routed["fields"])["assistent.personnummer"]["status"] == "confirmed"
    routed = validate(assess(routed))
    wrong = [r for r in routed["reasons"] if r["code"] == "wrong_check_digit"]
    assert routed["route"] == "completion" and wrong and wrong[0]["to"] == "sender"
    # what is no number at all cannot be accepted
    rec4 = json.loads(json.dumps(case["reports"][0]))
    flat4 = flatten(rec4["fields"])
    flat4["rows.1.from"].update(read="25:99", value=None)
    rec4["fields"] = nest(flat4, rec4["form"])
    with pytest.raises(decide.DecisionRefused) as e:
        decide.apply_decision(rec4, {"field_id": "rows.1.from", "reason": "low_confidence"}, "accept")
    assert e.value.code == "accept_invalid"
    store.close()


def _exported_ids(store: Store, root) -> list[str]:
    from pipeline.config import DataDir
    from pipeline.export.outbox import export

    data = DataDir(root / "export-data").ensure()
    export(store, data)
    return [json.loads(line)["document_id"] for f in sorted(data.outbox.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines()]


def test_last_decision_revalidates_routes_and_rechecks_the_invoice(review_store, tmp_path):
    store, case = review_store
    rep, inv = case["reports"][0], case["invoice"]
    doc = rep["document_id"]
    assert [f["code"] for f in store.record(inv["document_id"])["flags"]].count("time_reports_pending") == 1
    # validated, but held: point 2 is not checked until the time reports are decided
    assert store.record(inv["document_id"])["route"] == "validation"
    assert store.queue_counts()["validation_held"] == 1
    assert inv["document_id"] not in _exported_ids(store, tmp_path)
    first = _task(store, doc, "assistent.personnummer")
    out = decide.decide(store, first["id"], OPERATOR, "accept")
    assert out.decision == "accepted" and out.route is None  # another field is still open
    assert store.record(doc)["route"] == "review"
    assert decide.decide(store, first["id"], "bertil", "accept") is None  # decided already
    second = _task(store, doc, "rows.1.from")
    out = decide.decide(store, second["id"], OPERATOR, "correct", case["truth"]["rows.1.from"])
    assert (out.decision, out.route) == ("corrected", "validation")
    assert store.record(doc)["route"] == "validation" and store.open_review_tasks(doc) == []
    decided = store.review_task(second["id"])
    assert (decided["open"], decided["decision"], decided["decided_by"]) == (False, "corrected", OPERATOR)
    log = [(a["actor"], a["action"], a["field_id"]) for a in store.audit_log(doc)]
    assert (OPERATOR, "field_accepted", "assistent.personnummer") in log
    assert (OPERATOR, "field_corrected", "rows.1.from") in log
    assert (OPERATOR, "reviewed", None) in log
    entry = next(a for a in store.audit_log(doc) if a["action"] == "field_corrected")
    assert entry["before"] == "low_confidence: " + flatten(rep["fields"])["rows.1.from"]["read"]
    assert all(re.search(r"\d{12}", a["before"] or "") is None for a in store.audit_log(doc))
    # the other report is still in review: the invoice still waits
    assert "time_reports_pending" in [f["code"] for f in store.record(inv["document_id"])["flags"]]
    other = case["reports"][1]["document_id"]
    out = decide.decide(store, _task(store, other, "rows.1.dag")["id"], OPERATOR, "accept")
    assert out.route == "validation"
    invoice = store.record(inv["document_id"])
    assert "time_reports_pending" not in [f["code"] for f in invoice["flags"]]
    assert invoice["computed"]["time_reports"] == len(case["reports"]) and invoice["route"] == "validation"
    assert store.queue_counts()["validation_held"] == 0
    assert inv["document_id"] in _exported_ids(store, tmp_path)  # the same outbox: exported once, now


def test_unreadable_sends_the_document_to_the_sender(review_store):
    store, case = review_store
    doc = case["reports"][1]["document_id"]
    out = decide.decide(store, _task(store, doc, "rows.1.dag")["id"], OPERATOR, "unreadable")
    assert out.route == "completion"
    item, = store.open_completion_items(doc)
    assert item["code"] == "unreadable_confirmed" and "går inte att läsa" in item["sv"]


def test_queue_order_filters_and_stats(review_store):
    store, case = review_store
    tasks = store.review_tasks()
    assert len(tasks) == 3 and [t["created_at"] for t in tasks] == sorted(t["created_at"] for t in tasks)
    groups = store.review_queue()
    assert {(g["form"], g["kind"], g["count"]) for g in groups} == {
        ("3059", "personnummer", 1), ("3059", "clock_time", 1), ("3059", "day", 1)}
    assert [t["kind"] for t in store.review_tasks(kind="day")] == ["day"]
    # Tab: the next one after a task, round to the oldest
    after = store.review_tasks(after=tasks[0]["id"])
    assert [t["id"] for t in after] == [tasks[1]["id"], tasks[2]["id"]]
    assert store.review_tasks(after=tasks[-1]["id"])[0]["id"] == tasks[0]["id"]
    for t in tasks[:2]:
        decide.decide(store, t["id"], OPERATOR, "accept" if t["kind"] != "clock_time" else "unreadable")
    stats = review_stats(store)
    op, = stats["operators"]
    assert (op["name"], op["decisions"], op["last_hour"]) == (OPERATOR, 2, 2) and op["active_hours"] in (1, 2)
    assert op["per_hour"] == round(2 / op["active_hours"], 1)
    assert stats["open_tasks"] == 1 and sum(b["count"] for b in stats["buckets"]) == 1


def test_a_document_left_without_open_tasks_is_routed_on_start(review_store):
    store, case = review_store
    doc = case["reports"][1]["document_id"]
    task = _task(store, doc, "rows.1.dag")
    # as if the process died between the decision and the re-validation
    store.decide_task(task["id"], OPERATOR, lambda rec, t: decide.apply_decision(rec, t, "accept"))
    assert store.review_documents_without_tasks() == [doc]
    assert decide.finish_stranded(store) == [doc]
    assert store.record(doc)["route"] == "validation"


# --- the app over HTTP --------------------------------------------------------------------------

@pytest.fixture
def client(registry, tmp_path):
    from fastapi.testclient import TestClient

    data = DataDir(tmp_path / "data").ensure()
    store = Store.open(data, url=f"sqlite:///{data.database}")
    case = build_review_data(registry, store, data.root)
    store.add_user(OPERATOR, auth.hash_password(PASSWORD))
    with TestClient(create_app(data, store)) as c:
        yield c, store, case, data
    store.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _login(c, user=OPERATOR, password=PASSWORD):
    token = _csrf(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "user": user, "password": password}, follow_redirects=False)


def test_login_sessions_and_refusals(client):
    c, store, case, data = client
    doc = case["reports"][1]["document_id"]
    task = _task(store, doc, "rows.1.dag")
    # no session: pages send to the login, posts and images are refused
    assert c.get("/", follow_redirects=False).headers["location"] == "/login"
    assert c.post(f"/task/{task['id']}", data={"action": "accept"}).status_code == 403
    row = store.field_rows(doc)["rows.1.dag"]
    assert c.get(f"/image/field/{row['id']}").status_code == 401
    # the login form's own CSRF token
    assert c.post("/login", data={"csrf": "forged", "user": OPERATOR, "password": PASSWORD}).status_code == 403
    assert _login(c, password="wrong password").status_code == 401
    r = _login(c)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    token = c.cookies["blankett_session"]
    with store.session() as s:  # only the token's hash is stored
        assert s.scalar(select(OperatorSession.token_sha256)) == auth.token_digest(token)
    page = c.get("/")
    assert page.status_code == 200 and "Gruppgranska" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    csrf = _csrf(page.text)
    # a post with a wrong or no CSRF token is refused and changes nothing
    for bad in ({"csrf": csrf[:-2] + "xx"}, {}):
        assert c.post(f"/task/{task['id']}", data={"action": "accept", **bad}).status_code == 403
    assert store.review_task(task["id"])["open"]
    # images: by id, from the crops only
    img = c.get(f"/image/field/{row['id']}")
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.get(f"/image/page/{task['id']}/2").status_code == 200
    assert c.get(f"/image/page/{task['id']}/9").status_code == 404
    with store.session() as s:  # a crop path that leads out of <data>/crops is never served
        s.execute(update(FieldRow).where(FieldRow.id == row["id"]).values(crop="crops/../blankett.sqlite"))
    assert c.get(f"/image/field/{row['id']}").status_code == 404
    # the decision by a plain form post: Enter on the reading accepts it
    r = c.post(f"/task/{task['id']}", data={"csrf": csrf, "action": "correct", "value": "",
                                           "kind": "day"}, follow_redirects=False)
    assert r.status_code == 422 and "Skriv ett värde" in r.text  # emptied: refused, stays open
    read = decide.shown_value("day", flatten(case["reports"][1]["fields"])["rows.1.dag"]["read"])
    r = c.post(f"/task/{task['id']}", data={"csrf": csrf, "action": "correct", "value": read, "kind": "day"},
               follow_redirects=True)
    assert "Beslutat: godkänt" in r.text and "gick till validering" in r.text
    assert store.record(doc)["route"] == "validation"
    # an expired session is refused; logging out ends it
    with store.session() as s:
        s.execute(update(OperatorSession).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert c.get("/", follow_redirects=False).status_code == 303
    _login(c)
    csrf = _csrf(c.get("/").text)
    assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    with store.session() as s:
        assert s.scalar(select(OperatorSession.id)) is None


def test_group_grid_and_english(client):
    c, store, case, _ = client
    _login(c)
    page = c.get("/group?kind=clock_time&lang=en")
    assert page.status_code == 200 and "Group review: clock time" in page.text
    assert c.cookies.get("blankett_lang") == "en"
    task = store.review_tasks(kind="clock_time")[0]
    r = c.post("/group", data={"csrf": _csrf(page.text), "kind": "clock_time", "ids": str(task["id"]),
                               f"v-{task['id']}": case["truth"]["rows.1.from"], f"a-{task['id']}": ""},
               follow_redirects=True)
    assert "1 fields decided" in r.text and "Nothing to review" in r.text
    assert store.review_task(task["id"])["decision"] == "corrected"
    assert "Fields per hour per operator" in c.get("/stats").text


def test_user_commands(tmp_path):
    data = tmp_path / "d"
    r = CliRunner().invoke(cli, ["--data", str(data), "user", "add", "bertil", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["user", "add", "bertil", "--data", str(data), "--password-stdin"],
                           input=PASSWORD + "\n")
    assert r.exit_code != 0 and "exists already" in r.output
    r = CliRunner().invoke(cli, ["user", "add", "cecilia", "--data", str(data), "--password-stdin"], input="kort\n")
    assert r.exit_code != 0
    store = Store.open(DataDir(data))
    assert auth.verify_password(PASSWORD, store.password_hash("bertil"))
    store.close()
    assert CliRunner().invoke(cli, ["--data", str(data), "user", "disable", "bertil"]).exit_code == 0
    assert "bertil (disabled)" in CliRunner().invoke(cli, ["--data", str(data), "user", "list"]).output


def test_a_held_name_shows_what_the_other_forms_give_for_the_same_person(client):
    """The operator deciding a person's name sees the name the batch's other documents give
    for the same personnummer (accepted ones marked), each once."""
    c, store, case, _ = client
    rec = copy.deepcopy(case["reports"][1])
    rec["document_id"] = "held-name-1"
    true = flatten(rec["fields"])["person.name"]["read"]
    _uncertain(rec, "person.name", true[0] + true[2:])
    store.save_document(SHA, validate(assess(rec)))
    task = _task(store, "held-name-1", "person.name")
    _login(c)
    page = c.get(f"/task/{task['id']}?lang=sv").text
    shown = re.search(r'<dd id="copies">([^<]*)</dd>', page).group(1)
    assert shown == f"{true} (godkänt)"  # the 3057 and both 3059s say the same: once
    assert f"{true} (accepted)" in c.get(f"/task/{task['id']}?lang=en").text
    other = _task(store, case["reports"][0]["document_id"], "rows.1.from")  # not a name: nothing shown
    assert 'id="copies"' not in c.get(f"/task/{other['id']}").text


def test_a_value_the_forms_sums_changed_shows_what_was_read_and_why(client):
    """A time the rows' total changed (read/sums.py): the operator sees the finding in words
    and what the readers read; a field no check touched shows neither."""
    c, store, case, _ = client
    rec = copy.deepcopy(case["reports"][1])
    rec["document_id"] = "sums-changed-1"
    _uncertain(rec, "rows.1.from")
    flatten(rec["fields"])["rows.1.from"] |= {"check": "sums: corrected to the total", "read_as": "09.00"}
    store.save_document(SHA, validate(assess(rec)))
    task = _task(store, "sums-changed-1", "rows.1.from")
    _login(c)
    page = c.get(f"/task/{task['id']}?lang=sv").text
    assert re.search(r'<dd id="check">([^<]*)</dd>', page).group(1).startswith(
        "Ändrat så att raderna stämmer med summan på sidan 3")
    assert re.search(r'<dd id="read-as">([^<]*)</dd>', page).group(1) == "09.00"
    assert "Changed so that the rows add up to the total on page 3" in c.get(f"/task/{task['id']}?lang=en").text
    other = _task(store, case["reports"][0]["document_id"], "rows.1.from")
    page = c.get(f"/task/{other['id']}").text
    assert 'id="check"' not in page and 'id="read-as"' not in page


def test_every_finding_of_the_checks_has_words_in_both_languages():
    from pipeline.review.text import CHECKS, check_text

    assert CHECKS["sv"].keys() == CHECKS["en"].keys()
    assert all(check_text(k, "sv") != check_text(k, "en") for k in CHECKS["sv"])
    assert check_text("sums: something new", "sv") == "sums: something new"  # the code, never nothing
