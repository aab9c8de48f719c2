"""Tesseract behind one small interface.

In process with tesserocr, one engine per configuration for each thread reading at a time
(lent from a pool, so engines outlive the threads: ``_TesserocrEngine``); a subprocess per
crop is far too slow for ~200 fields a page (stack notes: 12.3 s vs 0.9 s for 120 crops). The
``tesseract`` program is the fallback where tesserocr is missing, run with
``OMP_THREAD_LIMIT=1`` in the child only, since Tesseract's OpenMP oversubscribes the cores
(16.7 s vs 2.9 s a page) and that variable breaks scikit-learn in our own process.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import MissingDependencyError

TESSDATA_CANDIDATES = (
    os.environ.get("TESSDATA_PREFIX", ""),
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)

# Tesseract page segmentation modes used here (see `tesseract --help-psm`).
PSM_SINGLE_LINE = 7
PSM_SINGLE_WORD = 8
PSM_SPARSE = 11


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "eng"
    psm: int = PSM_SINGLE_LINE
    whitelist: str | None = None


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float  # 0..1 (Tesseract's mean word confidence / 100)
    # Each recognised character (spaces between words left out) with Tesseract's confidence
    # in it (0..1); empty from the fallback engine, which only reports words.
    symbols: tuple[tuple[str, float], ...] = ()
    # Each symbol's box in the image (x0, y0, x1, y1, pixels), in the order of ``symbols``;
    # empty from the fallback engine.
    boxes: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def string_confidence(self) -> float:
        """How sure Tesseract is of the whole string: the product of its characters'
        confidences (a string is right only when every character is). The mean word
        confidence says little for a number: a gap Tesseract splits a number at (a comb's
        printed dash removed, a thousands space) gives a short word of low confidence
        however clear its digits (stack notes: 0.0–0.4 on right typed personnummer)."""
        if not self.symbols:
            return self.confidence
        p = 1.0
        for _, c in self.symbols:
            p *= c
        return p


def tessdata_dir() -> str:
    for d in TESSDATA_CANDIDATES:
        if d and (Path(d) / "eng.traineddata").exists():
            return d.rstrip("/") + "/"
    raise MissingDependencyError("Tesseract language data not found: install tesseract-ocr-eng and "
                                 "tesseract-ocr-swe (scripts/setup-system.sh does)")


def has_languages(lang: str) -> bool:
    """Is the language data for every part of ``lang`` ("swe+Latin") installed?"""
    try:
        d = Path(tessdata_dir())
    except MissingDependencyError:
        return False
    return all((d / f"{part}.traineddata").exists() for part in lang.split("+"))


class _TesserocrEngine:
    """tesserocr's engines, lent per call: each (language, mode) has a pool of engines, a
    reading thread takes an idle one (or a new one, when all are busy) and gives it back.
    An engine serves one thread at a time, and there are never more of a kind than threads
    reading at once. Engines outlive the threads that use them: a thread of their own per
    document (the flow's timeout) or per page (read_page's pool) had loaded the models again
    each time (15 MB for eng, 115 MB for swe+Latin, and a fifth of a second): in the
    benchmark, about a fifth of the reading time and 330 MB of a 1.56 GB peak."""

    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._path = tessdata_dir()
        self._idle: dict[tuple[str, int], list] = {}
        self._lock = threading.Lock()

    @contextmanager
    def _api(self, cfg: OcrConfig):
        """An engine for the language and mode, this thread's until the block ends; the
        whitelist is set per call, so the many numeric whitelists share one engine."""
        key = (cfg.lang, cfg.psm)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            api = idle.pop() if idle else None
        if api is None:
            api = self._tesserocr.PyTessBaseAPI(path=self._path, lang=cfg.lang, psm=cfg.psm)
        try:
            api.SetVariable("tessedit_char_whitelist", cfg.whitelist or "")
            yield api
        finally:
            with self._lock:
                self._idle[key].append(api)

    def engines(self) -> int:
        """How many engines the pools hold (all idle between calls)."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def read(self, image: np.ndarray, cfg: OcrConfig) -> OcrResult:
        from PIL import Image

        with self._api(cfg) as api:
            api.SetImage(Image.fromarray(image))
            api.Recognize()
            text = api.GetUTF8Text().strip()
            symbols, boxes = [], []
            it = api.GetIterator()
            level = self._tesserocr.RIL.SYMBOL
            if text and it is not None:
                while True:
                    ch = it.GetUTF8Text(level)
                    if ch and ch.strip():
                        symbols.append((ch, min(1.0, max(0.0, it.Confidence(level) / 100.0))))
                        boxes.append(tuple(it.BoundingBox(level)))
                    if not it.Next(level):
                        break
            return OcrResult(text, max(0, api.MeanTextConf()) / 100.0, tuple(symbols), tuple(boxes))


class _BinaryEngine:
    """Fallback: the ``tesseract`` program, one process per crop (slow; only without tesserocr).

    Runs the binary directly rather than through pytesseract so that ``OMP_THREAD_LIMIT=1``
    is set in the child's environment only."""

    def __init__(self) -> None:
        import shutil

        if not shutil.which("tesseract"):
            raise MissingDependencyError("neither tesserocr nor the tesseract program is installed")
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1", "TESSDATA_PREFIX": tessdata_dir()}

    def read(self, image: np.ndarray, cfg: OcrConfig) -> OcrResult:
        import subprocess

        import cv2

        ok, png = cv2.imencode(".png", image)
        cmd = ["tesseract", "stdin", "stdout", "-l", cfg.lang, "--psm", str(cfg.psm)]
        if cfg.whitelist:
            cmd += ["-c", f"tessedit_char_whitelist={cfg.whitelist}"]
        out = subprocess.run(cmd + ["tsv"], input=png.tobytes(), capture_output=True, env=self._env, check=True)
        words = []
        for line in out.stdout.decode("utf-8", "replace").splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) == 12 and cols[11].strip() and float(cols[10]) >= 0:
                words.append((cols[11], float(cols[10])))
        text = " ".join(w for w, _ in words)
        return OcrResult(text, sum(c for _, c in words) / len(words) / 100.0 if words else 0.0)


_engine = None
_engine_lock = threading.Lock()


def engine():
    """The process's OCR engine: tesserocr when importable, else the tesseract program."""
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                _engine = _TesserocrEngine()
            except ImportError:
                _engine = _BinaryEngine()
        return _engine


def read(image: np.ndarray, cfg: OcrConfig = OcrConfig()) -> OcrResult:
    return engine().read(image, cfg)
