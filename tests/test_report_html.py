"""The HTML report: self-contained, renders to a non-blank page in headless Chromium, totals = CSV."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from test_savings import write_fixture

from jobs.report_html import money, pct
from jobs.savings import run_savings

CHROMIUM = Path("/usr/bin/chromium")


class _Metrics(HTMLParser):
    """Collects data-metric/data-value pairs and the text shown inside those elements, plus all URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, float] = {}
        self.shown: dict[str, str] = {}
        self.urls: list[str] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(a[key])
        metric = a.get("data-metric")
        if metric:
            self.values[metric] = float(a["data-value"])
            self.shown[metric] = ""
        self._open.append(metric)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for m in self._open:
            if m:
                self.shown[m] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    fx = write_fixture(root / "in")
    out = root / "rep"
    run_savings(str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=200)
    return out


def test_totals_in_html_equal_csv(report):
    page = (report / "report.html").read_text()
    parsed = _Metrics()
    parsed.feed(page)
    total = pd.read_csv(report / "savings.csv").query("level == 'total'").iloc[0]
    for metric in (
        "cost_served",
        "cost_routed",
        "savings",
        "savings_ci_low",
        "savings_ci_high",
        "quality_retained",
    ):
        assert parsed.values[metric] == pytest.approx(float(total[metric]), rel=1e-12, abs=0), metric
    # ... and the formatted text a reader sees is that same number.
    assert parsed.shown["cost_served"].strip() == money(total["cost_served"]) == "$0.1200"
    assert parsed.shown["cost_routed"].strip() == money(total["cost_routed"]) == "$0.0315"
    assert parsed.shown["savings"].startswith(money(total["savings"]))
    assert parsed.shown["quality_retained"].strip() == pct(total["quality_retained"]) == "60.0%"
    # Self-contained: every embedded resource is a data: URL, nothing is fetched.
    assert parsed.urls and all(u.startswith("data:image/png;base64,") for u in parsed.urls)
    assert not re.search(r"https?://", page)
    # The per-segment table shows the total row with the same savings.
    assert page.count(money(total["savings"])) >= 3


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _png_pixels_zlib(path: Path) -> tuple[int, int, set[tuple[int, ...]]]:
    """Minimal decoder for Chromium's screenshots (8-bit RGB/RGBA, not interlaced)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h, bpp = 8, b"", 0, 0, 4
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    prev, colours = bytearray(stride), set()
    for y in range(h):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + pred) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, bpp))
        prev = line
    return w, h, colours


def _png_pixels(path: Path) -> tuple[int, int, set[tuple[int, ...]]]:
    """(width, height, distinct RGB colours): Pillow when installed, else the zlib decoder above."""
    try:
        from PIL import Image
    except ImportError:
        return _png_pixels_zlib(path)
    img = Image.open(path).convert("RGB")
    return img.width, img.height, set(img.getdata())


# In CI (.ci/run installs chromium) a missing browser is a failure, not a skip.
@pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="/usr/bin/chromium not installed (apt-get install chromium)",
)
def test_report_renders_in_headless_chromium(report, tmp_path):
    png = tmp_path / "report.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1200,2000",
        (report / "report.html").resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists(), f"chromium wrote no screenshot (rc={proc.returncode}): {proc.stderr[-2000:]}"
    w, h, colours = _png_pixels(png)
    assert (w, h) == (1200, 2000)
    # A blank or error page has a handful of colours; text, cards and anti-aliased plots have thousands.
    assert len(colours) > 500, len(colours)


def chromium_base(tmp_path: Path) -> list[str]:
    """Headless Chromium with nothing fetched in the background."""
    return [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip


def chromium_dom(page: Path, tmp_path: Path) -> str:
    """The DOM as Chromium built it from the report (not the file as written)."""
    cmd = [*chromium_base(tmp_path), "--dump-dom", page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def audit_report(tmp_path_factory) -> Path:
    """The fixture routed and audited with hand-computable correctness (tests/test_audit.py)."""
    root = tmp_path_factory.mktemp("audit_report")
    fx = write_fixture(root / "in")
    audit = root / "audit.csv"
    prompts = [f"prompt number {i} about topic {rid}" for i, rid in enumerate(["r1", "r2", "r3", "r4"])]
    pd.DataFrame({"prompt": prompts, "big": [1, 1, 1, 0], "small": [1, 0, 0, 0]}).to_csv(audit, index=False)
    out = root / "rep"
    run_savings(str(fx["logs"]), str(fx["labels"]), str(out), prices=str(fx["prices"]), bootstrap=200,
                audit=[str(audit)])  # fmt: skip
    return out


@pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="/usr/bin/chromium not installed (apt-get install chromium)",
)
def test_audit_report_in_chromium_shows_measured_pgr_ci_and_reliability(audit_report, report, tmp_path):
    parsed = _Metrics()
    dom = chromium_dom(audit_report / "report.html", tmp_path)
    parsed.feed(dom)
    audit = json.loads((audit_report / "summary.json").read_text())["audit"]
    assert parsed.values["audit_pgr"] == audit["pgr"] == 0.5
    assert parsed.shown["audit_pgr"].strip() == "50.0%"
    assert [parsed.values["audit_pgr_ci_low"], parsed.values["audit_pgr_ci_high"]] == audit["pgr_ci"]
    assert parsed.values["quality_retained"] == pytest.approx(0.6)  # the router's estimate, still shown
    assert 'data-plot="reliability"' in dom and "Quality retained (measured)" in dom
    assert 'data-warning="uncalibrated"' not in dom
    # Without an audit: the estimate is labelled uncalibrated, with a visible warning and the commands.
    plain = chromium_dom(report / "report.html", tmp_path)
    assert 'data-warning="uncalibrated"' in plain and "label sample --strategy random" in plain
    png = tmp_path / "audit.png"
    cmd = [*chromium_base(tmp_path), f"--screenshot={png}", "--window-size=1200,2400",
           (audit_report / "report.html").resolve().as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120)
    w, h, colours = _png_pixels(png)
    assert (w, h) == (1200, 2400) and len(colours) > 500


def test_zlib_png_decoder_matches_pillow(tmp_path):
    """The fallback decoder (used when Pillow is absent) agrees with Pillow on a real plot PNG."""
    pil = pytest.importorskip("PIL.Image")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot(111).plot([0, 1, 2], [1, 0, 2], color="#3a6fb0")
    path = tmp_path / "small.png"
    fig.savefig(path, dpi=60)
    img = pil.open(path).convert("RGB")
    assert _png_pixels_zlib(path) == (img.width, img.height, set(img.getdata()))
