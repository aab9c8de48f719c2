"""The benchmark (issue 8): ``make bench`` / ``blankett bench``.

A fixed, seeded set of generated batches (:data:`CELLS`: all four forms, typed and
hand-printed, 200 and 300 dpi, 1-bit and grey, our replicas and FK's real blank forms) goes
through the pipeline, and the run is set against the set's ground truth:

- **speed**: the 300 dpi 1-bit batch (the cells marked ``speed``) through the Prefect flow
  with two workers and with one, and through the same work called directly (no Prefect: the
  orchestration's cost); milliseconds per page for each stage; peak RSS of each run; and
  OCRmyPDF (full-page Tesseract, text layer only) on pages of the same batch;
- **accuracy**: fields per kind and fill style, checkbox and signature confusion, the page
  stages (identification, orientation, skew, registration), routes against the truth, the
  straight-through rate and the silent error rate (auto-accepted fields that are wrong).

Each measured run is a child process (its own peak RSS, a cold start like a real run); the
results go to ``docs/benchmarks.json`` and between the markers of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path


# Everything follows from this seed (cell i uses SEED + i).
SEED = 8008
# The flow and the same work without Prefect are each run this often, alternately (best counts).
OVERHEAD_REPEATS = 2
# Pages OCRmyPDF reads per run: it takes 1–2 s a page, so a sample of the speed batch.
OCRMYPDF_PAGES = 12
# Issue 8's targets on this 2-core machine.
TARGET_PAGES_PER_S = 4.0  # a 200-page-per-minute production scanner delivers 3.3 pages/s
TARGET_VS_OCRMYPDF = 10.0
TARGET_PEAK_RSS_MB = 1536
TARGET_OVERHEAD = 0.10  # issue 6: the flow against the same work called directly
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Cell:
    name: str
    dpi: int
    bitonal: bool
    styles: tuple[str, ...]
    documents: int
    real_forms: bool = False
    speed: bool = False  # part of the 300 dpi 1-bit speed batch

    @property
    def describe(self) -> str:
        mode = "1-bit" if self.bitonal else "grey"
        blank = "FK's real forms" if self.real_forms else "replicas"
        return f"{self.dpi} dpi {mode}, {'/'.join(self.styles)}, {blank}"


# About 300 pages (a document has 2–3 pages, a few batches a blank or letter page more); the
# speed batch is run six times, so it is kept to about 90 pages (the whole under 10 minutes).
CELLS = (
    Cell("typed-300-1bit", 300, True, ("typed",), 12, speed=True),
    Cell("hand-300-1bit", 300, True, ("hand",), 12, speed=True),
    Cell("fk-300-1bit", 300, True, ("typed", "hand", "mixed"), 10, real_forms=True, speed=True),
    Cell("mixed-200-1bit", 200, True, ("typed", "hand", "mixed"), 18),
    Cell("mixed-200-grey", 200, False, ("typed", "hand", "mixed"), 18),
    Cell("fk-300-grey", 300, False, ("typed", "hand", "mixed"), 12, real_forms=True),
)


# --- the set ------------------------------------------------------------------------------------

def generate(root: Path, scale: float = 1.0) -> dict[str, dict]:
    """Write every cell's batches under ``root/speed`` or ``root/rest``; returns pages and
    documents per cell. ``scale`` shrinks the set (tests, trial runs)."""
    from pipeline.synth.batch import SampleOptions, generate_samples

    out = {}
    for i, cell in enumerate(CELLS):
        folder = root / ("speed" if cell.speed else "rest")
        opts = SampleOptions(count=max(2, round(cell.documents * scale)), seed=SEED + i,
                             real_forms=cell.real_forms, fault_rate=0.25, styles=cell.styles,
                             dpi=cell.dpi, bitonal=cell.bitonal, format="tiff" if cell.bitonal else "pdf")
        # batch names carry the seed, unique per cell: the cells of a folder never collide
        batches = list(generate_samples(folder, opts))
        out[cell.name] = {"pages": sum(b.pages for b in batches), "documents": sum(b.documents for b in batches),
                          "describe": cell.describe, "folder": folder.name}
    return out


def received_of(folder: Path) -> str:
    """The batch's received date: the latest the truth gives (as the demo does)."""
    days = [d["received_date"] for tp in folder.glob("*.truth.json")
            for d in json.loads(tp.read_text(encoding="utf-8"))["documents"] if d.get("received_date")]
    return max(days) if days else date.today().isoformat()


# --- measured runs, each in a child process -----------------------------------------------------

def _phase(name: str, args: dict) -> dict:
    """Body of a child process (``python -m pipeline.bench NAME JSON``)."""
    if name in ("flow", "overhead"):
        from pipeline.config import DataDir

        data = DataDir.resolve(args["data"]).ensure()
        import flows  # after BLANKETT_DATA is set: Prefect's home under the data directory

        def one(kind: str, into: DataDir) -> dict:
            batch = flows.run_batch if kind == "flow" else flows.process_batch_direct
            s = batch(args["folder"], into, args["workers"], received=args["received"]).summary
            return {"kind": kind, "batch_wall_s": s["timings"]["wall_s"], "pages": s["pages"],
                    "documents": s["documents"], "stage_ms_per_page": s["timings"]["stage_ms_per_page"],
                    "routes": s["routes"], "concurrency": s["concurrency"]}

        if name == "flow":
            return one("flow", data)
        # the flow and the same work without Prefect, alternately, each into a data directory
        # of its own (a file seen before would be skipped); the best run of each counts, so
        # that a moment of other load on the machine does not decide the comparison
        runs = [one(kind, DataDir(data.root / f"{i}-{kind}").ensure())
                for i in range(OVERHEAD_REPEATS) for kind in ("flow", "direct")]
        best = {k: min((r for r in runs if r["kind"] == k), key=lambda r: r["batch_wall_s"]) for k in ("flow", "direct")}
        return {"flow": best["flow"], "direct": best["direct"], "all": runs}
    if name == "pages":
        from pipeline.evaluate import score_folder

        scores = score_folder(Path(args["folder"]))
        return scores.summary() | {"mistakes": scores.mistakes}
    raise ValueError(name)


def _start(name: str, args: dict, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.bench", name, json.dumps(args)],
                            stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    return proc, time.perf_counter()


def _finish(name: str, started: tuple[subprocess.Popen, float]) -> dict:
    """A child's result with its wall time, peak RSS and CPU time (its own children, such as
    Prefect's temporary server, included)."""
    proc, t0 = started
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"bench phase {name} failed with exit code {os.waitstatus_to_exitcode(status)}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return result | {"process_s": time.perf_counter() - t0, "peak_rss_mb": usage.ru_maxrss / 1024,
                     "cpu_s": usage.ru_utime + usage.ru_stime}


def _child(name: str, args: dict, env: dict[str, str] | None = None) -> dict:
    return _finish(name, _start(name, args, env))


def run_flow(kind: str, folder: Path, data: Path, workers: int) -> dict:
    env = {"BLANKETT_DATA": str(data), "OPENBLAS_NUM_THREADS": "1"}
    return _child(kind, {"folder": str(folder), "data": str(data), "workers": workers,
                         "received": received_of(folder)}, env)


def run_ocrmypdf(folder: Path, work: Path, pages: int = OCRMYPDF_PAGES, jobs: int = 2) -> dict:
    """OCRmyPDF over the first ``pages`` pages of the folder's batches, as one PDF of their
    scanned images (no re-encoding), text layer only (no PDF/A, no optimisation)."""
    import img2pdf
    from PIL import Image

    frames: list[bytes] = []
    for f in sorted(folder.glob("*.tif")):
        with Image.open(f) as im:
            for i in range(getattr(im, "n_frames", 1)):
                if len(frames) == pages:
                    break
                im.seek(i)
                buf = io.BytesIO()
                im.save(buf, "TIFF", compression="group4", dpi=im.info.get("dpi", (300, 300)))
                frames.append(buf.getvalue())
    src, dst = work / "ocrmypdf-in.pdf", work / "ocrmypdf-out.pdf"
    src.write_bytes(img2pdf.convert(frames))
    exe = Path(sys.executable).with_name("ocrmypdf")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "-l", "swe+eng", "--output-type", "pdf", "--optimize", "0",
                             "--jobs", str(jobs), "--quiet", str(src), str(dst)],
                            env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("ocrmypdf failed")
    return {"pages": len(frames), "wall_s": wall, "pages_per_s": len(frames) / wall, "jobs": jobs,
            "peak_rss_mb": usage.ru_maxrss / 1024}


# --- accuracy from the stored records -----------------------------------------------------------

def _held(acc: dict) -> str:
    held = acc.get("validation_held") or {}
    if not held:
        return "none"
    return ", ".join(f"{n} (truth: {t})" for t, n in sorted(held.items()))


def accuracy(pairs: list[tuple[Path, Path]]) -> dict:
    """Fields, confusions, routes, straight-through and silent error rates over the records
    stored in each data directory for its folder of generated batches."""
    from pipeline.config import DataDir
    from pipeline.evaluate import confusion, field_summary, record_outcomes
    from pipeline.store import Store

    docs = []
    for folder, data in pairs:
        store = Store.open(DataDir(data), url=f"sqlite:///{data / 'blankett.sqlite'}")
        docs += record_outcomes(folder, store.records())
        store.close()
    fields = [f for d in docs for f in d.fields]
    routes: dict[str, dict[str, int]] = {}
    for d in docs:
        row = routes.setdefault(d.expected, {"validation": 0, "review": 0, "completion": 0, "none": 0})
        row[d.route or "none"] += 1
    right = sum(d.route == d.expected for d in docs)
    return {
        "documents": len(docs),
        "fields": field_summary(fields),
        "checkbox": confusion(fields, "checkbox"),
        "signature": confusion(fields, "signature"),
        "routes": routes,
        "routes_right": right / max(1, len(docs)),
        "straight_through": sum(d.route == "validation" for d in docs) / max(1, len(docs)),
        "straight_through_possible": sum(d.expected == "validation" for d in docs) / max(1, len(docs)),
        "missing_signature_to_validation": sum(1 for d in docs if d.route == "validation"
                                               and "missing_signature" in d.faults),
        # in validation but held back from export until a re-check (a 3057 whose time reports
        # are in review), by the truth's route
        "validation_held": dict(Counter(d.expected for d in docs if d.route == "validation" and d.held)),
        "validation_bound": validation_bound(docs),
    }


def validation_bound(docs: list) -> dict[str, dict[str, int]]:
    """Per fill style, of the documents the truth sends to validation: how many got there,
    and how many had every field read right, whatever the confidence (the most that any
    acceptance threshold could send there), also leaving hand-written text aside."""
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        if d.expected != "validation":
            continue
        row = out.setdefault(d.style, {"documents": 0, "routed": 0, "all_right": 0, "all_right_but_hand_text": 0})
        row["documents"] += 1
        row["routed"] += d.route == "validation"
        row["all_right"] += all(f.right for f in d.fields)
        row["all_right_but_hand_text"] += all(f.right for f in d.fields if not (f.kind == "text" and f.handwritten))
    return dict(sorted(out.items()))


# --- the whole benchmark ------------------------------------------------------------------------

def run(work: Path, out_json: Path, out_md: Path, scale: float = 1.0, ocrmypdf: bool = True,
        echo=print) -> dict:
    """Generate the set, run every phase, write the report; returns the results."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    echo(f"bench: generating the set in {work} (seed {SEED})")
    cells = generate(work / "set", scale)
    gen_s = time.perf_counter() - t0
    speed, rest = work / "set" / "speed", work / "set" / "rest"
    echo(f"bench: the flow and the same work without Prefect over {speed.name}, "
         f"{OVERHEAD_REPEATS} times each, 2 workers")
    both = run_flow("overhead", speed, work / "data" / "overhead", 2)
    keep = {"process_s": both["process_s"], "peak_rss_mb": both["peak_rss_mb"], "cpu_s": both["cpu_s"]}
    runs: dict[str, dict] = {"flow_2": both["flow"] | keep, "direct_2": both["direct"] | keep}
    overhead_runs = both["all"]
    for name, folder, workers in (("flow_1", speed, 1), ("rest_2", rest, 2)):
        echo(f"bench: {name} over {folder.name}")
        runs[name] = run_flow("flow", folder, work / "data" / name, workers)
    echo("bench: page stages against the truth (both batches at once)")
    started = {f.name: _start("pages", {"folder": str(f)}) for f in (speed, rest)}
    pages = {k: _finish("pages", p) for k, p in started.items()}
    ocr = None
    if ocrmypdf:
        echo(f"bench: OCRmyPDF over {OCRMYPDF_PAGES} pages of the speed batch")
        ocr = run_ocrmypdf(speed, work)
    echo("bench: accuracy of the stored records")
    acc = accuracy([(speed, work / "data" / "overhead" / "0-flow"), (rest, work / "data" / "rest_2")])
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seed": SEED, "scale": scale, "cells": cells, "generate_s": gen_s,
        "runs": runs, "overhead_runs": overhead_runs, "pages": pages, "ocrmypdf": ocr, "accuracy": acc,
        "total_s": time.perf_counter() - t0,
    }
    results["verdict"] = verdict(results)
    out_json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    write_markdown(out_md, report(results))
    return results


def verdict(r: dict) -> dict:
    flow2, direct2, flow1 = r["runs"]["flow_2"], r["runs"]["direct_2"], r["runs"]["flow_1"]
    pps = flow2["pages"] / flow2["batch_wall_s"]
    direct_pps = direct2["pages"] / direct2["batch_wall_s"]
    out = {
        "pages_per_s": pps,
        "pages_per_s_direct": direct_pps,
        "pages_per_s_1_worker": flow1["pages"] / flow1["batch_wall_s"],
        "overhead": direct_pps / pps - 1,
        "peak_rss_mb": max(x["peak_rss_mb"] for x in r["runs"].values()),
        "costliest_stage": max(flow2["stage_ms_per_page"].items(), key=lambda kv: kv[1] or 0)[0],
    }
    if r["ocrmypdf"]:
        out["vs_ocrmypdf"] = pps / r["ocrmypdf"]["pages_per_s"]
    return out


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def _ok(good: bool) -> str:
    return "✅" if good else "❌"


def report(r: dict) -> str:
    v, runs = r["verdict"], r["runs"]
    acc = r["accuracy"]
    lines = [MARK_START, "", f"## `make bench` — {r['when'][:10]}", "",
             f"Generated by `make bench` (`pipeline/bench.py`, seed {r['seed']}"
             + (f", scale {r['scale']}" if r["scale"] != 1 else "") + f") in {r['total_s'] / 60:.1f} min on "
             f"{r['machine']['cores']} cores. Do not edit by hand: the next run rewrites it.", "",
             "The set (every cell all four forms, with faults as the generator plants them):", "",
             "| cell | batch | pages | documents |", "|---|---|---|---|"]
    lines += [f"| {k} ({c['describe']}) | {c['folder']} | {c['pages']} | {c['documents']} |"
              for k, c in r["cells"].items()]
    speed_pages = runs["flow_2"]["pages"]
    lines += ["", f"### Speed: the 300 dpi 1-bit batch ({speed_pages} pages)", "",
              "Pages/s from the batch's own wall time (from its first page read to its export); the "
              "process adds start-up (imports; Prefect's temporary server). CPU: the process and "
              "its children (Prefect's server), start-up included.", "",
              "| run | pages/s | batch wall s | process s | CPU s | peak RSS MB |", "|---|---|---|---|---|---|"]
    names = {"flow_2": "Prefect flow, 2 workers (best of the runs below)",
             "direct_2": "the same work without Prefect, 2 workers (best of the runs below)",
             "flow_1": "Prefect flow, 1 worker (2 reading threads)",
             "rest_2": "Prefect flow, 2 workers, the other cells"}
    for k, x in runs.items():
        shared = k in ("flow_2", "direct_2")
        lines.append(f"| {names[k]} | {x['pages'] / x['batch_wall_s']:.2f} | {x['batch_wall_s']:.1f} | "
                     + ("one process for all the overhead runs | " if shared else f"{x['process_s']:.1f} | ")
                     + f"{x['cpu_s']:.0f} | {x['peak_rss_mb']:.0f} |")
    if r["ocrmypdf"]:
        o = r["ocrmypdf"]
        lines.append(f"| OCRmyPDF 17, `-l swe+eng --output-type pdf --optimize 0 --jobs {o['jobs']}`, "
                     f"first {o['pages']} pages | {o['pages_per_s']:.2f} | {o['wall_s']:.1f} | – | – | "
                     f"{o['peak_rss_mb']:.0f} |")
    lines += ["", "The overhead runs in order (flow and direct alternately, in one process): "
              + ", ".join(f"{x['kind']} {x['pages'] / x['batch_wall_s']:.2f}" for x in r["overhead_runs"])
              + " pages/s.", ""]
    lines += ["Milliseconds per page by stage (each stage's own time, summed over the threads doing "
              "it, so they add up to about twice the wall time on two busy cores):", ""]
    stages = list(runs["flow_2"]["stage_ms_per_page"])
    lines += ["| run | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
    for k in ("flow_2", "direct_2", "flow_1"):
        ms = runs[k]["stage_ms_per_page"]
        lines.append(f"| {names[k].split(' (')[0]} | " + " | ".join(f"{ms[st]:.0f}" for st in stages) + " |")
    lines.append("")
    pps = v["pages_per_s"]
    lines += ["| target | measured | |", "|---|---|---|",
              f"| ≥ {TARGET_PAGES_PER_S} pages/s end to end (300 dpi 1-bit) | {pps:.2f} pages/s "
              f"({pps / TARGET_PAGES_PER_S:.0%} of target) | {_ok(pps >= TARGET_PAGES_PER_S)} |"]
    if "vs_ocrmypdf" in v:
        lines.append(f"| ≥ {TARGET_VS_OCRMYPDF:.0f}× OCRmyPDF's pages/s | {v['vs_ocrmypdf']:.1f}× | "
                     f"{_ok(v['vs_ocrmypdf'] >= TARGET_VS_OCRMYPDF)} |")
    lines += [f"| peak RSS ≤ {TARGET_PEAK_RSS_MB} MB | {v['peak_rss_mb']:.0f} MB (largest run, "
              f"{max(x['pages'] for x in runs.values())} pages) | {_ok(v['peak_rss_mb'] <= TARGET_PEAK_RSS_MB)} |",
              f"| orchestration overhead ≤ {TARGET_OVERHEAD:.0%} (issue 6) | {_pct(v['overhead'])} "
              f"({v['pages_per_s_direct']:.2f} pages/s without Prefect) | {_ok(v['overhead'] <= TARGET_OVERHEAD)} |",
              f"| scaling 1 → 2 workers | {v['pages_per_s_1_worker']:.2f} → {pps:.2f} pages/s "
              f"({pps / v['pages_per_s_1_worker']:.2f}×) | |", "",
              f"Costliest stage: **{v['costliest_stage']}**.", ""]
    lines += ["### Page stages", "", "| batch | pages | identification | orientation | registered | "
              "skew error median / max | registration error median / p99 / max | split |", "|---|---|---|---|---|---|---|---|"]
    for k, p in r["pages"].items():
        lines.append(f"| {k} | {p['pages']} | {_pct(p['identification'])} | {_pct(p['orientation'])} | "
                     f"{_pct(p['registered'])} | {p['skew_error_deg']['median']:.3f}° / {p['skew_error_deg']['max']:.3f}° | "
                     f"{p['registration_error_mm']['median']:.3f} / {p['registration_error_mm']['p99']:.3f} / "
                     f"{p['registration_error_mm']['max']:.3f} mm | {_pct(p['document_split'])} |")
    f = acc["fields"]
    lines += ["", f"### Fields ({acc['documents']} documents, every field of every page, from the stored records)", "",
              "Right: the reading equals the truth (an empty field read empty; an illegible scrawl, or a "
              "personnummer with a wrong check digit on paper, right when *not* accepted). Accepted: status "
              "ok or empty, no operator asked.", "",
              "| kind | written by | fields | right | filled fields right | accepted | wrong among accepted |",
              "|---|---|---|---|---|---|---|"]
    for key, t in f["by_kind"].items():
        kind, style = key.split("/")
        lines.append(f"| {kind} | {style} | {t['fields']} | {_pct(t['accuracy'])} | "
                     f"{_pct(t['filled_accuracy'])} of {t['filled']} | {_pct(t['auto'] / max(1, t['fields']))} | "
                     f"{t['auto_wrong']} |")
    lines += ["", f"Silent error rate (accepted and wrong): **{_pct(f['silent_error_rate'], 3)}** of "
              f"{f['auto_accepted']} accepted fields (target ≤ 0.2 %) {_ok(f['silent_error_rate'] <= 0.002)}; "
              f"fields accepted without review: {_pct(f['straight_through_fields'])}.", ""]
    for kind in ("checkbox", "signature"):
        c = acc[kind]
        lines += [f"{kind.capitalize()} confusion (rows: truth; columns: reading):", "",
                  "| truth \\ read | marked | empty | unsure |", "|---|---|---|---|"]
        lines += [f"| {t} | {row['marked']} | {row['empty']} | {row['unsure']} |" for t, row in c.items()]
        lines.append("")
    lines += [f"### Routes ({acc['documents']} documents)", "",
              "| truth \\ route | validation | review | completion | no record |", "|---|---|---|---|---|"]
    lines += [f"| {t} | {row['validation']} | {row['review']} | {row['completion']} | {row['none']} |"
              for t, row in acc["routes"].items()]
    lines += ["", f"Routes equal to the truth: **{_pct(acc['routes_right'])}** (issue 5's target ≥ 99 %) "
              f"{_ok(acc['routes_right'] >= 0.99)}. Straight-through (documents reaching validation "
              f"untouched): {_pct(acc['straight_through'])}, of {_pct(acc['straight_through_possible'])} "
              f"that the truth sends there. Documents missing a signature that reached validation: "
              f"{acc['missing_signature_to_validation']}. Held in validation (not exported until "
              f"a re-check, e.g. a 3057 whose time reports are in review): {_held(acc)}.", ""]
    if acc.get("validation_bound"):
        lines += ["What bounds the routes: of the documents the truth sends to validation, those whose "
                  "every field was read right, whatever the confidence. No acceptance threshold could "
                  "send more there without sending wrong values.", "",
                  "| filled in | documents | reached validation | every field read right | "
                  "every field but hand-written text |", "|---|---|---|---|---|"]
        lines += [f"| {style} | {b['documents']} | {b['routed']} | {b['all_right']} | {b['all_right_but_hand_text']} |"
                  for style, b in acc["validation_bound"].items()]
        lines.append("")
    lines.append(MARK_END)
    return "\n".join(lines)


def write_markdown(path: Path, section: str) -> None:
    """Replace the generated section of ``path`` (between the markers), or put it first."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section + rest.split(MARK_END, 1)[1]
    else:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{section}\n{body}"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    print(json.dumps(_phase(sys.argv[1], json.loads(sys.argv[2])), default=str))
