"""`dvc plots show` renders the loss curves in a real browser with the network blocked.

The repo's .dvc/config points `plots.html_template` at the committed .dvc/plots/offline.html, which
loads vega / vega-lite / vega-embed from build/vega/ (fetched once by scripts/setup_plots.sh) instead
of dvc-render's CDN tags, and makes vega-embed draw SVG so the marks are part of the DOM.

The browser tests build a throw-away DVC repo (the repo's own top-level curve plots, small curves in
dvclive's layout, the committed template and build/vega/) in a temp dir, run `dvc plots show` there and
load the page in headless Chromium with every network request failing. They skip without `chromium`
or `npm` on PATH (.ci/run installs both prerequisites).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from configobj import ConfigObj
from ruamel.yaml import YAML

from pressft.model.curves import series_file

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup_plots.sh"
LIBS = ("vega", "vega-lite", "vega-embed")
WINDOW = (1000, 820)
# DVC's colour for the `workspace` revision (#945dd6): the stroke of every curve.
CURVE_RGB = (148, 93, 214)

# Small curves in dvclive's layout (pressft.model.curves); the first point of each line ends up in the line mark's
# aria-label, as vega prints it.
CURVES = {
    "train/loss": [(s, f"{6.5 - 0.2 * (s - 1) + 0.3 * (s % 3 == 0):g}") for s in range(1, 31)],
    "train/learning_rate": [(s, f"{0.0005 * (31 - s) / 30:g}") for s in range(1, 31)],
    "train/grad_norm": [(s, f"{2.5 + 0.25 * ((s - 1) % 4):g}") for s in range(1, 31)],
    "eval/loss": [(10, "3.25"), (20, "2.5"), (30, "1.75")],
}
EXPECTED_LABELS = (
    # The loss plot takes y from two files; vega names the axes by the x_label / y_label set in dvc.yaml.
    'aria-label="optimizer step: 1; loss (nats per answer token): 6.5; rev: workspace; filename: train/loss.tsv"',
    'aria-label="optimizer step: 10; loss (nats per answer token): 3.25; rev: workspace; filename: eval/loss.tsv"',
    'aria-label="optimizer step: 1; learning_rate: 0.0005; rev: workspace"',
    'aria-label="optimizer step: 1; grad_norm: 2.5; rev: workspace"',
)
MARK_STRINGS = ('class="marks"', "role-mark", 'aria-label="step: ', 'aria-label="optimizer step: ')

CHROMIUM = shutil.which("chromium")
NPM = shutil.which("npm")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or NPM is None,
    reason=(
        "needs `chromium` and `npm` on PATH (apt-get install -y --no-install-recommends chromium; "
        "npm fetches vega via scripts/setup_plots.sh); missing: "
        + ", ".join(name for name, path in (("chromium", CHROMIUM), ("npm", NPM)) if path is None)
    ),
)


def _template_setting() -> str:
    return ConfigObj(str(REPO / ".dvc" / "config")).get("plots", {}).get("html_template", "")


def _setup_versions() -> dict:
    match = re.search(r'^VERSIONS="([^"]+)"', SETUP.read_text(), re.M)
    assert match, "scripts/setup_plots.sh lost its VERSIONS line"
    return dict(spec.rsplit("@", 1) for spec in match.group(1).split())


def test_setup_pins_the_versions_dvc_render_loads():
    from dvc_render.vega import VegaRenderer

    cdn = dict(re.findall(r"cdn\.jsdelivr\.net/npm/([a-z-]+)@([0-9.]+)", VegaRenderer.SCRIPTS))
    assert cdn == _setup_versions()


def test_offline_template_is_configured():
    setting = _template_setting()
    assert setting, ".dvc/config has no plots.html_template"
    template = (REPO / ".dvc" / setting).read_text(encoding="utf8")
    assert "{plot_divs}" in template
    assert "{scripts}" not in template  # would bring dvc-render's CDN <script> tags back
    assert "http" not in template
    for lib in LIBS:
        assert f'<script src="../build/vega/{lib}.min.js"></script>' in template
    assert 'renderer: "svg"' in template
    # The DOM assertions below must not be satisfiable by the template's own text.
    for needle in MARK_STRINGS:
        assert needle not in template


def _dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _render(page: Path, profile: Path) -> str:
    """Load `page` in headless Chromium with the network blocked; screenshot next to it, return the DOM."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
        f"--screenshot={page.parent / 'screenshot.png'}", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    assert "</html>" in proc.stdout, f"chromium dumped no DOM:\n{proc.stderr[-3000:]}"
    return proc.stdout


def _curve_pixels(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.size == WINDOW
        colours = rgb.getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    return sum(n for n, rgb in colours if all(abs(a - b) <= 12 for a, b in zip(rgb, CURVE_RGB)))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One temp repo rendered three ways: offline template, DVC's default (CDN) page, no build/vega/."""
    setup = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr
    assert len(setup.stdout.strip().splitlines()) == 1, setup.stdout

    root = tmp_path_factory.mktemp("plots_repo")
    _dvc(root, "init", "--no-scm", "-q")
    setting = _template_setting()
    (root / ".dvc" / setting).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".dvc" / setting, root / ".dvc" / setting)
    _dvc(root, "config", "plots.html_template", setting)
    (root / "build" / "vega").mkdir(parents=True)
    for lib in LIBS:
        shutil.copy(REPO / "build" / "vega" / f"{lib}.min.js", root / "build" / "vega")

    yaml = YAML(typ="safe")
    plots = [plot for plot in yaml.load((REPO / "dvc.yaml").read_text())["plots"]
             if isinstance(plot, dict) and next(iter(plot.values())).get("template") == "linear"]
    with open(root / "dvc.yaml", "w") as fh:
        yaml.dump({"plots": plots}, fh)
    for series, points in CURVES.items():
        path = root / "metrics" / "curves" / series_file(series)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"step\t{series.split('/')[1]}\n" + "".join(f"{step}\t{value}\n" for step, value in points))

    out = {}
    _dvc(root, "plots", "show", "-o", str(root / "dvc_plots"))
    out["offline"] = root / "dvc_plots" / "index.html"

    # The same page where build/vega/ is not next to it (setup never ran there).
    bare = tmp_path_factory.mktemp("no_libs") / "dvc_plots"
    bare.mkdir()
    shutil.copy(out["offline"], bare / "index.html")
    out["no_libs"] = bare / "index.html"

    # Negative control: DVC's default page, which loads the libraries from cdn.jsdelivr.net.
    _dvc(root, "config", "--unset", "plots.html_template")
    _dvc(root, "plots", "show", "-o", str(root / "cdn_plots"))
    out["cdn"] = root / "cdn_plots" / "index.html"

    profiles = tmp_path_factory.mktemp("chromium_profiles")
    return {
        name: {
            "html": page.read_text(encoding="utf8"),
            "dom": _render(page, profiles / name),
            "png": page.parent / "screenshot.png",
        }
        for name, page in out.items()
    }


@needs_browser
def test_offline_page_draws_every_curve(rendered):
    page = rendered["offline"]
    assert "cdn.jsdelivr.net" not in page["html"]
    assert '<script src="../build/vega/vega-embed.min.js">' in page["html"]
    dom = page["dom"]
    assert '<p class="dvc-plots-missing">' not in dom
    assert len(re.findall(r'<svg [^>]*class="marks"', dom)) == 3  # one SVG per plot, no <canvas>
    assert "<canvas" not in dom
    assert '<g class="mark-line role-mark' in dom
    for label in EXPECTED_LABELS:
        assert label in dom, label


@needs_browser
def test_offline_screenshot_shows_the_curves(rendered):
    png = rendered["offline"]["png"]
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    # Three plots' worth of purple strokes; the blank control below has none.
    assert _curve_pixels(png) > 1500


@needs_browser
def test_default_cdn_page_is_blank_offline(rendered):
    page = rendered["cdn"]
    assert '<script src="https://cdn.jsdelivr.net/npm/vega@5.20.2"></script>' in page["html"]
    for needle in MARK_STRINGS:
        assert needle not in page["dom"]
    assert _curve_pixels(page["png"]) == 0


@needs_browser
def test_page_without_libraries_says_what_to_run(rendered):
    dom = rendered["no_libs"]["dom"]
    assert dom.count('<p class="dvc-plots-missing">Plot not rendered: ../build/vega/*.min.js not found.') == 3
    for needle in MARK_STRINGS:
        assert needle not in dom
