"""The report in a real headless Chromium (the distribution's chromium + chromium-driver): the
charts render with drawn content, the page loads nothing and logs no console error; and the PNGs
matplotlib draws."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import webdriver
from support import requires

from aibench.report import build_report, have_matplotlib

HOW = ".ci/extras.d/60-report.sh (apt-get install chromium chromium-driver; pip install -e '.[report]')"
pytestmark = requires("report", have_matplotlib() and webdriver.available(), HOW)


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, build_report(sweep, out, png=True)


@pytest.fixture(scope="module")
def browser():
    b = webdriver.Browser()
    yield b
    b.close()


def colours(png: bytes) -> set[tuple[int, int, int]]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return set(image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata())


def hex_rgb(value: str) -> tuple[int, int, int]:
    return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def near(c, palette, tol=6) -> bool:
    return any(all(abs(a - b) <= tol for a, b in zip(c, p)) for p in palette)


STATS = """
const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('polyline, circle, rect.cell')].filter(el => {
    const b = el.getBBox(); return b.width > 0 || b.height > 0;
  });
  return {cls: svg.getAttribute('class'), w: box.width, h: box.height, drawn: drawn.length,
          lines: svg.querySelectorAll('polyline').length, points: svg.querySelectorAll('circle').length,
          cells: svg.querySelectorAll('rect.cell').length};
});
return {charts, resources: performance.getEntriesByType('resource').map(r => r.name),
        best: [...document.querySelectorAll('#best tbody tr')].map(tr => tr.children[0].textContent)};
"""


def test_charts_render_in_chromium_without_console_errors(built, browser):
    out, _ = built
    browser.console()  # start from an empty log
    browser.open((out / "report.html").as_uri())
    stats = browser.run(STATS)
    curves = [c for c in stats["charts"] if "curves" in c["cls"]]
    heat = [c for c in stats["charts"] if "heatmap" in c["cls"]]
    assert len(curves) == 2 and len(heat) == 1, stats
    for c in curves:
        assert c["w"] > 100 and c["h"] > 100
        assert c["lines"] == 2 and c["points"] == 4 and c["drawn"] == 6  # 2 models x 2 temperatures
    assert heat[0]["cells"] == 16 and heat[0]["drawn"] == 16 and heat[0]["w"] > 100
    assert stats["resources"] == []  # nothing loaded: no CDN, no fonts, no images
    assert stats["best"] == ["alpha", "beta"]

    # the pixels the browser drew: viridis cells in the heat map, the models' colours on the curves
    data = json.loads(browser.run("return document.getElementById('report-data').textContent"))
    assert len(data["runs"]) == 4
    fills = browser.run("return [...document.querySelectorAll('rect.cell')].map(r => r.getAttribute('fill'))")
    drawn = colours(browser.screenshot("svg.heatmap"))
    assert all(near(hex_rgb(f), drawn) for f in set(fills)), "a heat-map colour is missing from the screenshot"
    curve_pixels = colours(browser.screenshot("svg.curves"))
    assert near(hex_rgb("#1f77b4"), curve_pixels) and near(hex_rgb("#ff7f0e"), curve_pixels)

    # the page's script works: hovering a cell shows its run, problem and rate
    text = browser.run(
        "const c = document.querySelector('rect.cell');"
        "c.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
        "return [document.getElementById('readout').textContent, c.getAttribute('data-run')];"
    )
    assert text[0].startswith(text[1] + " | HumanEval/") and "pass rate" in text[0]
    errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
    assert errors == []


def test_console_errors_are_seen(browser, tmp_path):
    """The console check above is not blind: a page with a script error shows up in the log."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><svg></svg><script>notDefined()</script></body></html>")
    browser.console()
    browser.open(page.as_uri())
    assert any("notDefined" in e.get("message", "") for e in browser.console() if e.get("level") == "SEVERE")


def test_pngs(built):
    from PIL import Image

    out, files = built
    pngs = {f.name: f for f in files if f.suffix == ".png"}
    assert set(pngs) == {"pass_at_k_vs_temperature.png", "pass_rate_heatmap.png", "best_settings.png"}
    for path in pngs.values():
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 100
    # the heat map PNG is drawn in viridis from dark (0) to yellow (1): the sweep has both ends or between
    heat = colours(Path(pngs["pass_rate_heatmap.png"]).read_bytes())
    assert near((253, 231, 37), heat, tol=12) and len(heat) > 20
    curves = colours(Path(pngs["pass_at_k_vs_temperature.png"]).read_bytes())
    assert near(hex_rgb("#1f77b4"), curves) and near(hex_rgb("#ff7f0e"), curves)
