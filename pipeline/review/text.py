"""Every word of the review UI, Swedish (the default) and English, in one place.

A page is shown in English with ``?lang=en`` (remembered in a cookie); ``?lang=sv`` goes back.
"""

from __future__ import annotations

LANGS = ("sv", "en")
DEFAULT_LANG = "sv"

TEXT: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Granskning",
        "login": "Logga in", "logout": "Logga ut", "user": "Användare", "password": "Lösenord",
        "login_failed": "Fel användarnamn eller lösenord.",
        "queue": "Kö", "stats": "Statistik", "batch": "Batch", "form": "Blankett", "kind": "Fältsort",
        "count": "Antal", "oldest": "Äldsta", "start": "Granska", "group": "Gruppgranska",
        "queue_empty": "Inget att granska.",
        "document": "Handling", "field": "Fält", "reading": "Tolkning", "confidence": "Säkerhet",
        "status": "Status", "alternatives": "Alternativ", "reason": "Orsak", "page": "Sida",
        "copies": "Samma namn på andra blanketter", "accepted": "godkänt",
        "neighbours": "Fält intill", "value": "Värde",
        "accept_or_correct": "Godkänn / rätta (Enter)", "unreadable": "Oläslig (F8)", "missing": "Saknas (F9)",
        "skip": "Hoppa över (Tab)", "acknowledge": "Sidorna är i ordning (Enter)",
        "keyhelp": "Enter godkänner, skriv för att ersätta, Tab går vidare, F8 oläslig, F9 saknas.",
        "group_keys": "Tab går till nästa ruta; rätta bara de felaktiga och tryck Enter. "
                      "F8 markerar rutan oläslig, F9 saknas.",
        "group_submit": "Spara alla (Enter)", "by_value": "enligt värdet",
        "decided": "Beslutat: {decision}.", "routed": "Handlingen {document} gick till {route}.",
        "group_done": "{n} fält beslutade.",
        "route_validation": "validering", "route_review": "granskning", "route_completion": "komplettering",
        "decision_accepted": "godkänt", "decision_corrected": "rättat", "decision_unreadable": "oläsligt",
        "decision_missing": "saknas", "decision_acknowledged": "kvitterat",
        "task_closed": "Uppgiften är redan beslutad.",
        "not_decidable": "Det här kan inte beslutas här; hoppa över.",
        "unknown_action": "Okänt beslut.",
        "invalid_mark": "Skriv x för markerad eller lämna tomt för omarkerad.",
        "empty_value": "Skriv ett värde, eller välj Saknas (F9).",
        "invalid_value": "Inte ett giltigt värde för {kind}.",
        "accept_invalid": "Tolkningen är inte giltig (t.ex. fel kontrollsiffra): rätta den, eller välj Oläslig (F8).",
        "nothing_to_accept": "Ingen tolkning att godkänna: skriv värdet, eller välj Oläslig/Saknas.",
        "per_operator": "Fält per timme och operatör ({days} dagar)", "operator": "Operatör",
        "decisions": "Beslut", "active_hours": "Aktiva timmar", "per_hour": "Per timme",
        "last_hour": "Senaste timmen", "queue_age": "Köns ålder", "open_tasks": "Öppna uppgifter",
        "median_age": "Medianålder", "age_under": "yngre än {h} h", "age_over": "äldre än {h} h",
        "hours": "h", "none": "–", "thumbnail": "Sidan med fältet markerat", "crop": "Fältets bild",
        "no_image": "Ingen bild", "check": "Blankettens kontroll", "read_as": "Läst som",
    },
    "en": {
        "title": "Review",
        "login": "Log in", "logout": "Log out", "user": "User", "password": "Password",
        "login_failed": "Wrong user name or password.",
        "queue": "Queue", "stats": "Statistics", "batch": "Batch", "form": "Form", "kind": "Field kind",
        "count": "Count", "oldest": "Oldest", "start": "Review", "group": "Group review",
        "queue_empty": "Nothing to review.",
        "document": "Document", "field": "Field", "reading": "Reading", "confidence": "Confidence",
        "status": "Status", "alternatives": "Alternatives", "reason": "Reason", "page": "Page",
        "copies": "The same name on other forms", "accepted": "accepted",
        "neighbours": "Neighbouring fields", "value": "Value",
        "accept_or_correct": "Accept / correct (Enter)", "unreadable": "Unreadable (F8)", "missing": "Missing (F9)",
        "skip": "Skip (Tab)", "acknowledge": "The pages are in order (Enter)",
        "keyhelp": "Enter accepts, typing replaces, Tab moves on, F8 unreadable, F9 missing.",
        "group_keys": "Tab moves to the next box; correct only the wrong ones and press Enter. "
                      "F8 marks a box unreadable, F9 missing.",
        "group_submit": "Save all (Enter)", "by_value": "by its value",
        "decided": "Decided: {decision}.", "routed": "Document {document} went to {route}.",
        "group_done": "{n} fields decided.",
        "route_validation": "validation", "route_review": "review", "route_completion": "completion",
        "decision_accepted": "accepted", "decision_corrected": "corrected", "decision_unreadable": "unreadable",
        "decision_missing": "missing", "decision_acknowledged": "acknowledged",
        "task_closed": "This task has already been decided.",
        "not_decidable": "This cannot be decided here; skip it.",
        "unknown_action": "Unknown decision.",
        "invalid_mark": "Type x for marked or leave empty for not marked.",
        "empty_value": "Type a value, or choose Missing (F9).",
        "invalid_value": "Not a valid value for {kind}.",
        "accept_invalid": "The reading is not valid (e.g. a wrong check digit): correct it, or choose Unreadable (F8).",
        "nothing_to_accept": "No reading to accept: type the value, or choose Unreadable/Missing.",
        "per_operator": "Fields per hour per operator ({days} days)", "operator": "Operator",
        "decisions": "Decisions", "active_hours": "Active hours", "per_hour": "Per hour",
        "last_hour": "Last hour", "queue_age": "Queue age", "open_tasks": "Open tasks",
        "median_age": "Median age", "age_under": "under {h} h", "age_over": "over {h} h",
        "hours": "h", "none": "–", "thumbnail": "The page with the field outlined", "crop": "The field's image",
        "no_image": "No image", "check": "The form's check", "read_as": "Read as",
    },
}


# Field kinds (pipeline.forms.FieldKind) and document-level tasks, as the queue names them.
KINDS: dict[str, dict[str, str]] = {
    "sv": {"text": "text", "personnummer": "personnummer", "organisationsnummer": "organisationsnummer",
           "date": "datum", "year_month": "år och månad", "clock_time": "klockslag", "day": "dag",
           "hours": "timmar", "minutes": "minuter", "amount": "belopp", "phone": "telefonnummer",
           "checkbox": "kryssruta", "signature": "underskrift", "document": "sidor och handling"},
    "en": {"text": "text", "personnummer": "personnummer", "organisationsnummer": "organisationsnummer",
           "date": "date", "year_month": "year and month", "clock_time": "clock time", "day": "day",
           "hours": "hours", "minutes": "minutes", "amount": "amount", "phone": "phone number",
           "checkbox": "checkbox", "signature": "signature", "document": "pages and document"},
}
# Titles of document-level tasks, by reason code.
TASK_TITLES: dict[str, dict[str, str]] = {
    "sv": {"page_problem": "Sidproblem", "unidentified": "Okänd blankett"},
    "en": {"page_problem": "Page problem", "unidentified": "Unknown form"},
}


# What the form's own redundancy found about a reading (a record field's ``check``: the
# findings of pipeline/read/sums.py, order.py and copies.py), for the operator.
CHECKS: dict[str, dict[str, str]] = {
    "sv": {
        "sums: confirmed": "Bekräftat av blankettens summor.",
        "sums: corrected": "Rättat så att summorna stämmer.",
        "sums: digit corrected": "En siffra ändrad så att summorna stämmer; avsändaren kan ha räknat fel.",
        "sums: an alternative adds up": "Ändrat till en annan tolkning som får summorna att stämma; "
                                        "avsändaren kan ha räknat fel.",
        "sums: corrected to the total": "Ändrat så att raderna stämmer med summan på sidan 3; "
                                        "avsändaren kan ha räknat fel.",
        "sums: comma restored": "Decimalkomma insatt så att raden stämmer med antalet timmar.",
        "sums: row does not add up": "Raden stämmer inte med antalet timmar: ett av radens belopp är fel.",
        "sums: another reading adds up": "En annan tolkning av fältet skulle få summorna att stämma.",
        "sums: no row fits the hours": "Ingen kostnadsrad stämmer med antalet timmar.",
        "order: confirmed": "Vägt mot dagarnas ordning i raderna.",
        "order: corrected": "Ändrat så att dagarna kommer i ordning.",
        "order: period confirmed": "Vägt mot att periodens datum kommer i ordning.",
        "order: period corrected": "Ändrat så att periodens datum kommer i ordning; avsändaren kan ha skrivit fel.",
        "copies: agreed": "Bekräftat av samma uppgift på blankettens andra sidor.",
        "copies: from the other pages": "Oläsligt här; värdet är det som står på blankettens andra sidor.",
    },
    "en": {
        "sums: confirmed": "Confirmed by the form's sums.",
        "sums: corrected": "Corrected so that the sums add up.",
        "sums: digit corrected": "One digit changed so that the sums add up; the sender may have slipped.",
        "sums: an alternative adds up": "Changed to another reading that makes the sums add up; "
                                        "the sender may have slipped.",
        "sums: corrected to the total": "Changed so that the rows add up to the total on page 3; "
                                        "the sender may have slipped.",
        "sums: comma restored": "Decimal comma restored so that the row agrees with the hours.",
        "sums: row does not add up": "The row does not agree with the hours: one of its amounts is wrong.",
        "sums: another reading adds up": "Another reading of the field would make the sums add up.",
        "sums: no row fits the hours": "No cost row agrees with the hours.",
        "order: confirmed": "Weighed against the order of the days down the rows.",
        "order: corrected": "Changed so that the days come in order.",
        "order: period confirmed": "Weighed against the period's dates coming in order.",
        "order: period corrected": "Changed so that the period's dates come in order; the sender may have slipped.",
        "copies: agreed": "Confirmed by the same entry on the form's other pages.",
        "copies: from the other pages": "Unreadable here; the value is the one on the form's other pages.",
    },
}


def check_text(check: str | None, lang: str) -> str | None:
    """A record field's ``check`` in the operator's words (the code itself where it has none)."""
    if not check:
        return None
    return CHECKS.get(lang, CHECKS[DEFAULT_LANG]).get(check, check)


def kind_name(kind: str | None, lang: str) -> str:
    return KINDS.get(lang, KINDS[DEFAULT_LANG]).get(kind or "document", kind or "")


def task_title(reason: str, lang: str) -> str:
    return TASK_TITLES.get(lang, TASK_TITLES[DEFAULT_LANG]).get(reason, reason)


def words(lang: str) -> dict[str, str]:
    return TEXT[lang if lang in TEXT else DEFAULT_LANG]
