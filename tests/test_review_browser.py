"""The review UI in a real headless Chromium (Debian's, driven by Playwright): log in, decide
fields with the keyboard and see the document leave review; requests without a session or
with a bad CSRF token are refused; images only for logged-in operators.

`make test` installs Debian's chromium (scripts/setup-system.sh); without /usr/bin/chromium
this module is skipped. Playwright's own browser downloads are never used."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.config import DataDir
from pipeline.review import auth
from pipeline.review.app import create_app
from pipeline.store import Store
from test_review import OPERATOR, PASSWORD, _task, build_review_data

CHROMIUM = Path("/usr/bin/chromium")
# As the workplace runs Chromium: no sandbox as root, and no background connections (the
# network is closed; they would only fail and slow the start).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Longest wait (ms) for a page or an element; the pages answer in well under a second.
TIMEOUT_MS = 15_000
START_TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (Debian package "
                                "chromium; `make test` installs it): browser tests skipped")


@pytest.fixture(scope="module")
def served(registry, tmp_path_factory):
    """The app on a free loopback port, in a thread, over a fresh data directory."""
    import uvicorn

    data = DataDir(tmp_path_factory.mktemp("review") / "data").ensure()
    store = Store.open(data, url=f"sqlite:///{data.database}")
    case = build_review_data(registry, store, data.root)
    store.add_user(OPERATOR, auth.hash_password(PASSWORD))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(data, store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the review app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", store, case
    server.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _logged_in(browser, base):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}/")
    assert page.url.endswith("/login")
    page.fill("input[name=user]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    return context, page


def test_refused_without_session_or_with_a_bad_csrf_token(served, browser):
    base, store, case = served
    doc = case["reports"][1]["document_id"]
    task = _task(store, doc, "rows.1.dag")
    row = store.field_rows(doc)["rows.1.dag"]
    anonymous = browser.new_context()
    assert anonymous.request.get(f"{base}/image/field/{row['id']}").status == 401
    assert anonymous.request.get(f"{base}/image/page/{task['id']}/1").status == 401
    assert anonymous.request.post(f"{base}/task/{task['id']}", form={"action": "unreadable"}).status == 403
    anonymous.close()
    context, page = _logged_in(browser, base)
    assert context.request.get(f"{base}/image/field/{row['id']}").status == 200
    assert context.request.get(f"{base}/image/page/{task['id']}/99").status == 404
    page.goto(f"{base}/task/{task['id']}")
    assert page.eval_on_selector("#crop", "img => img.complete && img.naturalWidth > 0")
    page.eval_on_selector("#decide input[name=csrf]", "el => el.value = 'forged'")
    with page.expect_response(f"{base}/task/{task['id']}") as response:
        page.click("#unreadable")
    assert response.value.status == 403
    assert store.review_task(task["id"])["open"] and store.record(doc)["route"] == "review"
    context.close()


def test_keyboard_review_sends_documents_on(served, browser):
    base, store, case = served
    rep, other = case["reports"][0]["document_id"], case["reports"][1]["document_id"]
    context, page = _logged_in(browser, base)
    # Tab moves on to the next task without deciding
    page.goto(f"{base}/task")
    first = page.url
    page.keyboard.press("Tab")
    page.wait_for_url(lambda u: u != first)
    assert store.review_tasks()[0]["id"] == int(first.rsplit("/", 1)[1])  # still open
    # typing replaces the selected reading; Enter saves it
    page.goto(f"{base}/task?kind=clock_time")
    assert page.eval_on_selector("#value", "el => el === document.activeElement")
    page.keyboard.type(case["truth"]["rows.1.from"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash")
    assert "rättat" in page.inner_text("#flash")
    assert store.record(rep)["route"] == "review"  # its personnummer is still open
    # Enter accepts the reading: the document's last field, so it leaves review at once
    page.goto(f"{base}/task?kind=personnummer")
    assert page.eval_on_selector("svg image", "el => el.getAttribute('href')").startswith("/image/page/")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash")
    assert f"{rep} gick till validering" in page.inner_text("#flash")
    assert store.record(rep)["route"] == "validation" and store.open_review_tasks(rep) == []
    # F8: unreadable, to the sender
    page.goto(f"{base}/task?kind=day")
    page.keyboard.press("F8")
    page.wait_for_selector("#flash")
    assert f"{other} gick till komplettering" in page.inner_text("#flash")
    assert store.record(other)["route"] == "completion"
    assert [c["code"] for c in store.open_completion_items(other)] == ["unreadable_confirmed"]
    decisions = [(a["actor"], a["action"]) for a in store.audit_log() if a["action"].startswith("field_")]
    assert decisions == [(OPERATOR, "field_corrected"), (OPERATOR, "field_accepted"), (OPERATOR, "field_unreadable")]
    page.goto(f"{base}/")
    assert page.is_visible("#queue-empty")
    context.close()
