"""The review UI: a FastAPI app with server-rendered pages (Jinja2), thin over
:mod:`pipeline.review.decide` and the store.

Every page but the login needs a session; every form post carries the session's CSRF token
(a post without a session or with a wrong token is refused with 403). Images are looked up
by id in the store and served only from ``<data>/crops``; no path ever comes from a request.
The pages work by plain form posts; ``static/review.js`` adds the keyboard (Enter, Tab, F8,
F9). Swedish by default, English with ``?lang=en`` (:mod:`pipeline.review.text`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pipeline import defs
from pipeline.across import name_readings
from pipeline.assess import template_of
from pipeline.config import DataDir
from pipeline.record import flatten
from pipeline.review import auth, decide
from pipeline.review.text import DEFAULT_LANG, LANGS, check_text, kind_name, task_title, words
from pipeline.store import Store

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "blankett_session"
LOGIN_COOKIE = "blankett_login"  # the login form's CSRF token (double submit)
LANG_COOKIE = "blankett_lang"
FILTERS = ("batch", "form", "kind")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NotLoggedIn(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, why: str):
        self.status, self.why = status, why


def create_app(data: DataDir, store: Store | None = None) -> FastAPI:
    """The app over one data directory (its store unless one is given)."""
    store = store or Store.open(data.ensure())
    crops_root = (data.root / "crops").resolve()
    decide.finish_stranded(store)
    app = FastAPI(title="blankett review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn):
        if request.method == "GET" and "image" not in request.url.path:
            return RedirectResponse("/login", status_code=303)
        return Response("not logged in", status_code=403 if request.method != "GET" else 401)

    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused):
        return Response(exc.why, status_code=exc.status, media_type="text/plain")

    # --- helpers -----------------------------------------------------------------------------

    def lang_of(request: Request) -> str:
        q = request.query_params.get("lang")
        if q in LANGS:
            return q
        c = request.cookies.get(LANG_COOKIE)
        return c if c in LANGS else DEFAULT_LANG

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def page(request: Request, template_name: str, status: int = 200, **context) -> HTMLResponse:
        lang = lang_of(request)
        t = words(lang)
        helpers = {"t": t, "lang": lang, "kind_name": lambda k: kind_name(k, lang),
                   "task_title": lambda r: task_title(r, lang)}
        response = templates.TemplateResponse(
            request, template_name, helpers | context | {"flash": _flash_text(context.get("flash"), t)},
            status_code=status)
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict", secure=secure(request))
        return response

    def operator(request: Request) -> tuple[str, str]:
        token = request.cookies.get(SESSION_COOKIE)
        who = store.session_user(auth.token_digest(token), defs.SESSION_IDLE_S) if token else None
        if who is None:
            raise NotLoggedIn()
        return who

    async def form_of(request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise Refused(415, "form posts only")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > defs.REVIEW_MAX_FORM_BYTES:
                raise Refused(413, "form too large")
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Refused(400, "not UTF-8") from None
        return {k: v[0] for k, v in parsed.items()}

    async def posted(request: Request) -> tuple[str, dict[str, str]]:
        """(operator, form) of a post with a session and its right CSRF token; else refused."""
        name, csrf = operator(request)
        form = await form_of(request)
        if not auth.same_token(form.get("csrf"), csrf):
            raise Refused(403, "bad CSRF token")
        return name, form

    def filters_of(source) -> dict[str, str]:
        return {k: source.get(k) for k in FILTERS if source.get(k)}

    def query_filters(f: dict[str, str]) -> dict:
        batch = f.get("batch")
        return {"batch": int(batch) if batch and batch.isdigit() else None, "form": f.get("form"),
                "kind": f.get("kind")}

    def url(path: str, **params) -> str:
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return path + ("?" + urlencode(params) if params else "")

    # --- login --------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, failed: bool = False):
        token = auth.new_token()
        response = page(request, "login.html", status=401 if failed else 200, login_csrf=token, failed=failed)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                            max_age=3600)
        return response

    @app.post("/login")
    async def login(request: Request):
        form = await form_of(request)
        if not auth.same_token(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            raise Refused(403, "bad CSRF token")
        name = form.get("user", "").strip()
        if not auth.verify_password(form.get("password", ""), store.password_hash(name)):
            store.audit(name[:100] or "?", "login_failed")
            return login_page(request, failed=True)
        token = auth.new_token()
        store.create_session(name, auth.token_digest(token), auth.new_token(), auth.session_expiry())
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                            max_age=defs.SESSION_LIFETIME_S)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request):
        name, _ = await posted(request)
        store.end_session(auth.token_digest(request.cookies[SESSION_COOKIE]))
        store.audit(name, "logged_out")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- queue --------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request):
        name, csrf = operator(request)
        groups = store.review_queue()
        for g in groups:
            g["age_h"] = _hours_since(g["oldest"])
        return page(request, "queue.html", operator=name, csrf=csrf, groups=groups, url=url,
                    flash=request.query_params.get("flash"))

    @app.get("/task")
    def next_task(request: Request):
        operator(request)
        f = filters_of(request.query_params)
        after = request.query_params.get("after")
        tasks = store.review_tasks(**query_filters(f), after=int(after) if after and after.isdigit() else None,
                                   limit=1)
        flash = request.query_params.get("flash")
        if not tasks:
            return RedirectResponse(url("/", flash=flash), status_code=303)
        return RedirectResponse(url(f"/task/{tasks[0]['id']}", flash=flash, **f), status_code=303)

    def task_context(task: dict, lang: str) -> dict:
        record = store.record(task["document_id"])
        rows = store.field_rows(task["document_id"])
        fid = task["field_id"]
        template = template_of(record)
        flat = flatten(record.get("fields", {}))
        fv = flat.get(fid) if fid else None
        reasons = [r for r in record.get("reasons", []) if r["code"] == task["reason"]
                   and (fid is None or fid in r.get("fields", []))] or record.get("reasons", [])
        page_no = fv["page"] if fv else next((r.get("page") for r in reasons if r.get("page")), None)
        size = template.page_size_of(page_no) if template is not None and page_no else None
        neighbours = [{"id": nid, "name": decide.field_name(record, nid, lang), "row": rows.get(nid),
                       "shown": decide.shown_value(nfv["kind"], nfv.get("read")), "status": nfv["status"]}
                      for nid, nfv in (decide.neighbours(record, fid, defs.REVIEW_NEIGHBOURS) if fid else [])]
        copies = []  # a name: what the batch's other documents give for the same person
        if fid and template is not None and fid in template.names:
            batch = store.batch_records(task["document_id"])
            copies = [(decide.shown_value(fv["kind"], v), accepted)
                      for v, accepted in name_readings(batch, task["document_id"], fid)]
        return {"task": task, "record": record, "fv": fv, "row": rows.get(fid) if fid else None,
                "copies": copies,
                "name": decide.field_name(record, fid, lang) if fid else None,
                "shown": decide.shown_value(fv["kind"], fv.get("read")) if fv else "",
                "reasons": reasons, "page_no": page_no, "page_size": size, "neighbours": neighbours,
                "check": check_text(fv.get("check"), lang) if fv else None,
                "read_as": decide.shown_value(fv["kind"], fv.get("read_as")) if fv else "",
                "alternatives": [decide.shown_value(fv["kind"], a[0]) if isinstance(a, (list, tuple)) else a
                                 for a in (fv.get("alternatives") or [])] if fv else []}

    @app.get("/task/{task_id}", response_class=HTMLResponse)
    def task_page(request: Request, task_id: int):
        name, csrf = operator(request)
        task = store.review_task(task_id)
        if task is None:
            raise Refused(404, "no such task")
        f = filters_of(request.query_params)
        if not task["open"]:
            return RedirectResponse(url("/task", flash="task_closed", **f), status_code=303)
        return page(request, "task.html", operator=name, csrf=csrf, filters=f, url=url,
                    flash=request.query_params.get("flash"), error=None,
                    skip=url("/task", after=task_id, **f), **task_context(task, lang_of(request)))

    @app.post("/task/{task_id}")
    async def decide_task(request: Request, task_id: int):
        name, form = await posted(request)
        f = filters_of(form)
        try:
            out = decide.decide(store, task_id, name, form.get("action", "correct"), form.get("value", ""))
        except decide.DecisionRefused as e:
            task = store.review_task(task_id)
            if task is None:
                raise Refused(404, "no such task") from None
            lang = lang_of(request)
            error = _refusal(e, lang)
            _, csrf = operator(request)
            return page(request, "task.html", status=422, operator=name, csrf=csrf, filters=f, url=url,
                        flash=None, error=error, skip=url("/task", after=task_id, **f),
                        **task_context(task, lang))
        return RedirectResponse(url("/task", flash=_flash(out), **f), status_code=303)

    # --- group verification -----------------------------------------------------------------

    def grid(request: Request, f: dict, errors: dict[int, str] | None = None, flash: str | None = None,
             status: int = 200):
        name, csrf = operator(request)
        lang = lang_of(request)
        cells = []
        for task in store.review_tasks(**query_filters(f), limit=defs.REVIEW_GROUP_SIZE):
            if task["field_id"] is None:
                continue
            record = store.record(task["document_id"])
            fv = flatten(record.get("fields", {})).get(task["field_id"])
            if fv is None:
                continue
            cells.append({"task": task, "fv": fv, "row": store.field_rows(task["document_id"]).get(task["field_id"]),
                          "name": decide.field_name(record, task["field_id"], lang),
                          "shown": decide.shown_value(fv["kind"], fv.get("read")),
                          "error": (errors or {}).get(task["id"])})
        return page(request, "group.html", status=status, operator=name, csrf=csrf, filters=f, cells=cells,
                    url=url, flash=flash)

    @app.get("/group", response_class=HTMLResponse)
    def group_page(request: Request):
        return grid(request, filters_of(request.query_params), flash=request.query_params.get("flash"))

    @app.post("/group")
    async def group_decide(request: Request):
        name, form = await posted(request)
        f = filters_of(form)
        errors: dict[int, str] = {}
        decided = 0
        for tid in [int(x) for x in form.get("ids", "").split(",") if x.isdigit()]:
            action, value = form.get(f"a-{tid}") or "correct", form.get(f"v-{tid}", "")
            if action == "correct" and not value.strip() and form.get(f"e-{tid}"):
                continue  # nothing read, nothing typed: left for later
            try:
                if decide.decide(store, tid, name, action, value) is not None:
                    decided += 1
            except decide.DecisionRefused as e:
                errors[tid] = _refusal(e, lang_of(request))
        flash = f"group:{decided}"
        if errors:
            return grid(request, f, errors, flash=flash, status=422)
        return RedirectResponse(url("/group", flash=flash, **f), status_code=303)

    # --- images ---------------------------------------------------------------------------------

    def inside_crops(rel: str) -> Path:
        path = (data.root / rel).resolve()
        if not path.is_relative_to(crops_root) or path.suffix != ".png" or not path.is_file():
            raise Refused(404, "no image")
        return path

    @app.get("/image/field/{field_row_id}")
    def field_image(request: Request, field_row_id: int):
        operator(request)
        found = store.field_crop(field_row_id)
        if found is None:
            raise Refused(404, "no image")
        return FileResponse(inside_crops(found[1]), media_type="image/png")

    @app.get("/image/page/{task_id}/{page_no}")
    def page_image(request: Request, task_id: int, page_no: int):
        operator(request)
        task = store.review_task(task_id)
        if task is None:
            raise Refused(404, "no image")
        return FileResponse(inside_crops(f"crops/{task['document_id']}/page-{page_no}.png"), media_type="image/png")

    # --- stats ----------------------------------------------------------------------------------

    @app.get("/stats", response_class=HTMLResponse)
    def stats(request: Request):
        name, csrf = operator(request)
        return page(request, "stats.html", operator=name, csrf=csrf, **review_stats(store))

    return app


def _hours_since(t: datetime, at: datetime | None = None) -> float:
    return ((at or datetime.now(timezone.utc)) - t).total_seconds() / 3600


def _flash(out: decide.Outcome | None) -> str:
    """The message after a decision, as a query value: ``decision[:document:route]``."""
    if out is None:
        return "task_closed"
    return f"{out.decision}:{out.document_id}:{out.route}" if out.route else out.decision


def _refusal(e: decide.DecisionRefused, lang: str) -> str:
    params = {k: kind_name(v, lang) if k == "kind" else v for k, v in e.params.items()}
    return words(lang)[e.code].format(**params)


def _flash_text(flash: str | None, t: dict[str, str]) -> str | None:
    """The words for a :func:`_flash` value (unknown values say nothing)."""
    if not flash:
        return None
    head, *rest = flash.split(":")
    if head == "group" and rest and rest[0].isdigit():
        return t["group_done"].format(n=int(rest[0]))
    if head == "task_closed":
        return t["task_closed"]
    if f"decision_{head}" not in t:
        return None
    text = t["decided"].format(decision=t[f"decision_{head}"])
    if len(rest) == 2 and f"route_{rest[1]}" in t:
        text += " " + t["routed"].format(document=rest[0], route=t[f"route_{rest[1]}"])
    return text


def review_stats(store: Store, at: datetime | None = None) -> dict:
    """Fields per hour per operator over the last days, and the open queue's age."""
    at = at or datetime.now(timezone.utc)
    per: dict[str, list[datetime]] = defaultdict(list)
    for who, t in store.decisions_since(at - timedelta(days=defs.REVIEW_STATS_DAYS)):
        per[who].append(t)
    operators = []
    for who, times in sorted(per.items()):
        hours = {t.replace(minute=0, second=0, microsecond=0) for t in times}
        operators.append({"name": who, "decisions": len(times), "active_hours": len(hours),
                          "per_hour": round(len(times) / len(hours), 1),
                          "last_hour": sum(1 for t in times if at - t <= timedelta(hours=1))})
    ages = sorted(_hours_since(t, at) for t in store.open_task_times())
    buckets, lower = [], 0.0
    for h in defs.REVIEW_AGE_BUCKETS_H:
        buckets.append({"under": h, "count": sum(1 for a in ages if lower <= a < h)})
        lower = h
    buckets.append({"over": lower, "count": sum(1 for a in ages if a >= lower)})
    return {"operators": operators, "days": defs.REVIEW_STATS_DAYS, "open_tasks": len(ages),
            "oldest_h": ages[-1] if ages else None, "median_h": statistics.median(ages) if ages else None,
            "buckets": buckets}
