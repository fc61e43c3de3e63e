"""The run report (``report.html``): its files and HTML, then the page in a real browser.

A short real run (``raveforce-mae run drums --agent random --episodes 2``) is played once
per module and its report written; the tests read the files back, and the browser tests
open the page in headless Chromium (the system's, driven by Playwright) after the run
folder has been moved, as a user who copied or unzipped it would.

The browser tests skip, with the reason, when Playwright or Chromium is missing, except
in CI (``$CI`` set), where they fail instead: ``.ci/install-browser`` installs both.
"""

from __future__ import annotations

import html.parser
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf

import raveforce_mae
from raveforce_mae.errors import ParameterError
from raveforce_mae.report import FILES_DIR, REPORT_NAME, RunFolderError, write_report
from raveforce_mae.runfolder import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "drums"
EPISODES = 2
CHROMIUM = os.environ.get("RAVEFORCE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Tests press play without a user gesture.
    "--autoplay-policy=no-user-gesture-required",
    # A fake audio output clocked by the system timer: playback advances at real speed
    # on machines without a sound card (real ALSA/Pulse output stalls or starts late there).
    "--disable-audio-output",
]


# -- the run ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario():
    return raveforce_mae.load_scenario(SCENARIO)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / f"{SCENARIO}-random"
    p = subprocess.run(
        [sys.executable, "-m", "raveforce_mae", "run", SCENARIO, "--agent", "random"]
        + ["--episodes", str(EPISODES), "--seed", "5", "--no-plots", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    write_report(out)
    return out


@pytest.fixture(scope="module")
def page_html(run_dir) -> str:
    return (run_dir / REPORT_NAME).read_text(encoding="utf-8")


class _Collector(html.parser.HTMLParser):
    """Every tag with its attributes, and the URLs the page refers to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("src", "href"):
            if a.get(key) is not None:
                self.urls.append(a[key])

    handle_startendtag = handle_starttag


def parse(text: str) -> _Collector:
    c = _Collector()
    c.feed(text)
    c.close()
    return c


def local_targets(text: str) -> list[str]:
    """The relative file paths the page links (anchors and the empty data: icon left out)."""
    out = []
    for url in parse(text).urls:
        if url.startswith("#") or url == "data:,":
            continue
        out.append(unquote(url))
    return out


def wav_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*.wav"))


# -- files and HTML ----------------------------------------------------------------------------


def test_links_are_relative_and_exist(run_dir, page_html):
    links = local_targets(page_html)
    assert links
    for url in links:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"absolute URL in the page: {url}"
        assert not url.startswith("/") and ".." not in Path(url).parts, f"link leaves the run folder: {url}"
        assert (run_dir / url).is_file(), f"the page links {url}, which does not exist"
    # Every WAV of the run is linked: 2 episodes x (mix, kick, hat) and the 3 targets.
    wavs = {p.relative_to(run_dir).as_posix() for p in wav_files(run_dir)}
    assert len(wavs) == EPISODES * 3 + 3
    assert wavs <= set(links)


def test_html_is_valid(page_html):
    html5lib = pytest.importorskip("html5lib")
    # strict=True raises on the first parse error (misnested or unclosed tags, bad attributes).
    html5lib.HTMLParser(strict=True).parse(page_html)
    ids = [a["id"] for _, a in parse(page_html).tags if a.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    # Every form control has a label (or is inside one), every image an alt text.
    tags = parse(page_html).tags
    assert all(a.get("alt") for t, a in tags if t == "img")
    assert all(a.get("aria-label") for t, a in tags if t == "audio")
    assert page_html.count("<select") == page_html.count('<label class="step-pick">Step <select')
    assert page_html.count('type="radio"') == page_html.count('<label><input type="radio"')


def test_readable_without_javascript(run_dir, page_html, scenario):
    tags = parse(page_html).tags
    audio = [a for t, a in tags if t == "audio"]
    rows = 1 + len(scenario.tracks)
    # Rendered and target players for the mix and each stem, with their native controls.
    assert len(audio) == EPISODES * rows * 2
    assert all("controls" in a and a.get("src") for a in audio)
    assert len([a for t, a in tags if t == "img"]) == EPISODES * rows * 2
    assert page_html.count("<table") >= 1 + EPISODES + 1  # episodes, per-step rewards, versions
    # The controls that need the script are hidden until it runs.
    for t, a in tags:
        if "js-only" in (a.get("class") or ""):
            assert "hidden" in a, f"a script-only control is visible without JavaScript: <{t} {a}>"


def test_works_after_move_and_zip(run_dir, tmp_path, page_html):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(run_dir, moved)
    links = local_targets((moved / REPORT_NAME).read_text(encoding="utf-8"))
    assert all((moved / u).is_file() for u in links)
    archive = shutil.make_archive(str(tmp_path / "run"), "zip", moved)
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    assert all((tmp_path / "unzipped" / u).is_file() for u in links)
    # No attribute names the folder the page was written in (the reproducing command,
    # shown as text, may).
    for _, attrs in parse(page_html).tags:
        assert not any(str(run_dir.resolve()) in (v or "") for v in attrs.values()), attrs


def test_step_grid_matches_the_scenario(run_dir, page_html, scenario):
    """Without recorded timing the grid comes from rewards.csv and the WAV: it must equal the scenario's."""
    summary = json.loads((run_dir / "summary.json").read_text())
    grids = [
        json.loads(a["data-steps"]) for t, a in parse(page_html).tags if t == "section" and "data-steps" in a
    ]
    assert len(grids) == EPISODES
    expected = [list(b) for b in scenario.bounds]
    if "timing" not in summary:
        assert all(g == expected for g in grids)
    # With recorded timing (as newer runs write it), the same grid.
    other = run_dir.parent / "with-timing"
    shutil.copytree(run_dir, other)
    summary["timing"] = {
        "sample_rate": scenario.sample_rate,
        "bpm": scenario.bpm,
        "step_frames": expected,
        "total_frames": scenario.total_frames,
    }
    (other / "summary.json").write_text(json.dumps(summary))
    text = write_report(other).read_text(encoding="utf-8")
    grids = [json.loads(a["data-steps"]) for t, a in parse(text).tags if t == "section" and "data-steps" in a]
    assert all(g == expected for g in grids)
    shutil.rmtree(other)


def test_performance_sections_cover_the_episode(run_dir, page_html, scenario):
    spans = [a for t, a in parse(page_html).tags if t == "span" and a.get("class") == "sec"]
    assert spans
    per_episode: list[list[tuple[int, int]]] = [[]]
    for a in spans:
        start, stop = int(a["data-start"]), int(a["data-stop"])
        if start == 0 and per_episode[-1]:
            per_episode.append([])
        per_episode[-1].append((start, stop))
    assert len(per_episode) == EPISODES
    for sections in per_episode:
        assert sections[0][0] == 0 and sections[-1][1] == scenario.total_frames
        assert all(a[1] == b[0] for a, b in zip(sections, sections[1:], strict=False))
        # Each section starts on a step boundary.
        starts = {b[0] for b in scenario.bounds}
        assert all(s in starts for s, _ in sections)


def test_versions_recorded_or_installed(run_dir, tmp_path):
    other = tmp_path / "v"
    shutil.copytree(run_dir, other)
    summary = json.loads((other / "summary.json").read_text())
    summary.pop("versions", None)
    (other / "summary.json").write_text(json.dumps(summary))
    text = write_report(other).read_text(encoding="utf-8")
    assert "installed when this page was written" in text
    assert f"<td>{np.__version__}</td>" in text
    summary["versions"] = {"numpy": "0.0.0-recorded", "glicol": "0.13.5"}
    (other / "summary.json").write_text(json.dumps(summary))
    text = write_report(other).read_text(encoding="utf-8")
    assert "as recorded by the run" in text and "<td>0.0.0-recorded</td>" in text
    assert summary["command"].startswith("raveforce-mae run drums")
    assert json.dumps(summary["command"])[1:-1].split()[0] in text


def test_spectrogram_pictures_are_oriented(run_dir):
    """Measured on the PNGs: the kick's energy sits low, the hat's high (low frequencies at the bottom)."""
    from matplotlib import image

    from raveforce_mae import plots

    _, _, edges = plots.spectrogram_db(np.zeros(4096, dtype=np.float32), 44100)

    def loudest_hz(png: Path) -> float:
        rgb = image.imread(str(png))[..., :3]
        # magma is dark for quiet bins and bright for loud ones: the brightest row is the loudest band.
        row = int(np.argmax(rgb.sum(axis=2).mean(axis=1)))
        frac = 1.0 - (row + 0.5) / rgb.shape[0]
        return float(edges[0] * (edges[-1] / edges[0]) ** frac)

    kick = loudest_hz(run_dir / FILES_DIR / "targets" / "kick.png")
    hat = loudest_hz(run_dir / FILES_DIR / "targets" / "hat.png")
    assert kick < 250.0, kick
    assert hat > 2000.0, hat
    # One picture per WAV, as wide as its analysis frames (hop 256 frames).
    for wav in wav_files(run_dir):
        png = run_dir / FILES_DIR / wav.relative_to(run_dir).with_suffix(".png")
        w = image.imread(str(png)).shape[1]
        assert w == math.ceil(sf.info(str(wav)).frames / 256)


def test_rewriting_is_deterministic(run_dir, tmp_path):
    other = tmp_path / "again"
    shutil.copytree(run_dir, other)
    first = write_report(other).read_bytes()
    pictures = {p: p.read_bytes() for p in (other / FILES_DIR).rglob("*.png")}
    second = write_report(other).read_bytes()
    assert first == second
    assert {p: p.read_bytes() for p in (other / FILES_DIR).rglob("*.png")} == pictures
    leftovers = [p for p in other.iterdir() if p.name.startswith(".") and p.name != MANIFEST]
    assert not leftovers, "temporary files left behind"


def test_max_episodes_keeps_the_best(run_dir, tmp_path):
    other = tmp_path / "one"
    shutil.copytree(run_dir, other)
    best = json.loads((other / "summary.json").read_text())["best_episode"]
    text = write_report(other, max_episodes=1).read_text(encoding="utf-8")
    shown = [a["id"] for t, a in parse(text).tags if t == "section" and "episode" in (a.get("class") or "")]
    assert shown == [best]
    assert "shows 1 of the 2 episodes" in text
    assert text.count('<th scope="row"><a href="#episode_') == 1  # the table lists both, links one


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder at"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a run folder"):
        write_report(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        write_report(tmp_path / "file")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="summary.json.*not valid JSON"):
        write_report(tmp_path / "bad")
    for value in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match=f"max_episodes .* got {value!r}"):
            write_report(tmp_path / "empty", max_episodes=value)


def test_malformed_rewards_csv_is_named(run_dir, tmp_path):
    other = tmp_path / "csv"
    shutil.copytree(run_dir, other)
    path = other / "episode_000" / "rewards.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[5], "loud", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFolderError, match=r"rewards\.csv' line 4: expected a number, got 'loud'"):
        write_report(other)


# -- in a real browser -------------------------------------------------------------------------


def _browser_available() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install 'raveforce-mae[report-test]')"
    if not os.path.isfile(CHROMIUM) or not os.access(CHROMIUM, os.X_OK):
        return (
            f"no Chromium at {CHROMIUM} (.ci/install-browser installs it; RAVEFORCE_CHROMIUM sets the path)"
        )
    return None


def _launch(pw, profile: Path, **kw):
    return pw.chromium.launch_persistent_context(
        str(profile),  # a fresh profile: no cache, no settings from earlier runs
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1200, "height": 900},
        **kw,
    )


@pytest.fixture(scope="module")
def playwright_driver():
    reason = _browser_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: the browser tests must run in CI")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser_context(playwright_driver, tmp_path_factory):
    ctx = _launch(playwright_driver, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def moved_run(run_dir, tmp_path_factory) -> Path:
    """The run folder moved elsewhere: the browser opens the copy, the original is gone."""
    dest = tmp_path_factory.mktemp("moved") / "a copy of the run"
    shutil.copytree(run_dir, dest)
    return dest


class Page:
    """A fresh page on the report, recording console messages, errors and requests."""

    def __init__(self, ctx, run: Path) -> None:
        self.page = ctx.new_page()
        self.console: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto((run / REPORT_NAME).resolve().as_uri())
        self.page.wait_for_function(
            "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)", timeout=20000
        )

    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)


@pytest.fixture
def page(browser_context, moved_run):
    p = Page(browser_context, moved_run)
    yield p
    p.page.close()


@pytest.mark.browser
def test_readable_in_a_browser_without_javascript(playwright_driver, moved_run, tmp_path):
    ctx = _launch(playwright_driver, tmp_path / "profile", java_script_enabled=False)
    try:
        pg = ctx.new_page()
        pg.goto((moved_run / REPORT_NAME).resolve().as_uri())
        pg.wait_for_function("Array.from(document.images).every(i => i.complete)")
        audio = pg.locator("audio")
        assert audio.count() == EPISODES * 3 * 2
        assert all(audio.nth(i).is_visible() for i in range(audio.count()))
        assert all(pg.locator("img").nth(i).is_visible() for i in range(pg.locator("img").count()))
        assert pg.locator("#episodes table").is_visible() and pg.locator("svg.chart").first.is_visible()
        # Controls that need the script are not shown.
        for sel in (".controls", ".now", "fieldset.ab", "button.play-step"):
            loc = pg.locator(sel)
            assert loc.count() and not any(loc.nth(i).is_visible() for i in range(loc.count())), sel
    finally:
        ctx.close()


MIX_A = "#episode_000 .row[data-name='mix'] audio[data-side='a']"
MIX_B = "#episode_000 .row[data-name='mix'] audio[data-side='b']"


@pytest.mark.browser
def test_page_loads_without_errors_or_outside_requests(page, moved_run):
    page.page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    assert page.js("Array.from(document.images).every(i => i.naturalWidth > 0)")
    errors = [m for m in page.console if m[0] in ("error", "pageerror")]
    assert not errors, errors
    base = moved_run.resolve().as_uri() + "/"
    outside = [u for u in page.requests if not (u.startswith(base) or u.startswith("data:"))]
    assert not outside, outside
    assert any(u.endswith(".wav") for u in page.requests) and any(u.endswith(".png") for u in page.requests)


@pytest.mark.browser
def test_every_audio_element_has_the_wav_length(page, moved_run):
    found = page.js(
        "Array.from(document.querySelectorAll('audio')).map(a => [a.getAttribute('src'), a.duration])"
    )
    assert len(found) == EPISODES * 3 * 2
    for src, duration in found:
        info = sf.info(str(moved_run / unquote(src)))
        assert abs(duration - info.frames / info.samplerate) <= 1.0 / info.samplerate, (
            src,
            duration,
            info.frames,
        )


@pytest.mark.browser
def test_play_advances_time_and_the_playheads(page):
    # "Pressing play": keyboard focus on the player and the space bar, as a user would.
    page.page.focus(MIX_A)
    page.page.keyboard.press("Space")
    page.page.wait_for_function(f'document.querySelector("{MIX_A}").currentTime > 0.3', timeout=5000)
    t, paused, seconds, left = page.js(
        f"""() => {{ const a = document.querySelector("{MIX_A}");
        const s = a.closest('figure').querySelector('.spec');
        return [a.currentTime, a.paused, Number(s.dataset.seconds),
                parseFloat(s.querySelector('.playhead').style.left)]; }}"""
    )
    assert not paused and t > 0.3
    # The playhead follows playback (to within a few animation frames).
    assert abs(left / 100 * seconds - t) < 0.2, (left, t)
    page.page.keyboard.press("Space")
    page.page.wait_for_function(f'document.querySelector("{MIX_A}").paused')


@pytest.mark.browser
def test_ab_switch_keeps_the_position(page):
    page.js(f'document.querySelector("{MIX_A}").play()')
    page.page.wait_for_function(f'document.querySelector("{MIX_A}").currentTime > 0.4', timeout=5000)
    t_a, t_b, a_paused, src_a, src_b = page.js(
        f"""() => {{ const a = document.querySelector("{MIX_A}"), b = document.querySelector("{MIX_B}");
        const t = a.currentTime;
        a.closest('.row').querySelector('input[value="b"]').click();
        return [t, b.currentTime, a.paused, a.currentSrc, b.currentSrc]; }}"""
    )
    assert a_paused and src_a != src_b and src_b.endswith("/targets/mix.wav")
    assert abs(t_b - t_a) < 0.05, (t_a, t_b)
    page.page.wait_for_function(f'document.querySelector("{MIX_B}").currentTime > {t_b + 0.2}', timeout=5000)
    assert page.js(f"document.querySelector(\"{MIX_B}\").closest('figure').classList.contains('active')")
    # By keyboard, paused: the arrow key moves the radio back to A, at B's position.
    page.js(f'document.querySelector("{MIX_B}").pause()')
    page.page.focus("#episode_000 .row[data-name='mix'] input[value='b']")
    t_b = page.js(f'document.querySelector("{MIX_B}").currentTime')
    page.page.keyboard.press("ArrowLeft")
    t_a = page.js(f'document.querySelector("{MIX_A}").currentTime')
    assert abs(t_a - t_b) < 0.05, (t_a, t_b)
    assert page.js(f"document.querySelector(\"{MIX_A}\").closest('figure').classList.contains('active')")


@pytest.mark.browser
def test_chart_step_moves_playback_to_its_start(page, scenario):
    sr = scenario.sample_rate
    for k in (3, 11):
        page.page.click(f"#episode_000 svg.chart rect.step[data-step='{k}']")
        times = page.js("Array.from(document.querySelectorAll('#episode_000 audio')).map(a => a.currentTime)")
        start = scenario.bounds[k][0] / sr
        assert all(abs(t - start) < 1e-3 for t in times), (k, start, times)
        # The performance section being played is highlighted: the one holding the step's start.
        sec = page.js(
            "(() => { const s = document.querySelector('#episode_000 .sec.current'); return [+s.dataset.start, +s.dataset.stop]; })()"
        )
        assert sec[0] <= scenario.bounds[k][0] < sec[1]
        assert page.js(
            f"document.querySelector(\"#episode_000 rect.step[data-step='{k}']\").classList.contains('current')"
        )
    # Keyboard: the focused step moves with the arrow keys, Enter jumps there.
    page.page.keyboard.press("ArrowRight")
    page.page.keyboard.press("Enter")
    t = page.js(f'document.querySelector("{MIX_A}").currentTime')
    assert abs(t - scenario.bounds[12][0] / sr) < 1e-3


@pytest.mark.browser
def test_play_one_step_alone(page, scenario):
    sr = scenario.sample_rate
    k = 5
    page.page.select_option("#episode_000 .row[data-name='kick'] select.step-select", str(k))
    kick = "#episode_000 .row[data-name='kick'] audio[data-side='a']"
    start, end = scenario.bounds[k][0] / sr, scenario.bounds[k][1] / sr
    # A step lasts 125 ms: its play and pause are recorded in the page, not polled.
    page.js(
        f"""() => {{ const a = document.querySelector("{kick}"); window.events = [];
        for (const ev of ['play', 'pause']) a.addEventListener(ev, () => window.events.push([ev, a.currentTime])); }}"""
    )
    page.page.click("#episode_000 .row[data-name='kick'] button.play-step")
    page.page.wait_for_function(
        "window.events.length >= 2 && window.events.at(-1)[0] === 'pause'", timeout=5000
    )
    events = page.js("window.events")
    assert events[0][0] == "play" and abs(events[0][1] - start) < 1e-3, events
    assert events[-1][1] >= end - 0.01, events  # it played to the step's end ...
    t2 = page.js(f'document.querySelector("{kick}").currentTime')
    assert abs(t2 - end) < 1e-3, (t2, end)  # ... and stopped there


@pytest.mark.browser
def test_screenshot_is_not_blank(page, tmp_path):
    from matplotlib import image

    page.page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    shot = tmp_path / "report_screenshot.png"
    page.page.screenshot(path=str(shot), full_page=False)
    rgb = image.imread(str(shot))[..., :3]
    assert rgb.shape[0] >= 800 and rgb.shape[1] >= 1000
    # Text, the spectrograms' colours and the white page: far from one flat colour.
    assert float(rgb.std()) > 0.1, rgb.std()
    assert len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 500
    print(f"screenshot kept at {shot}")
    if os.environ.get("RAVEFORCE_UPDATE_SCREENSHOT"):
        # The README's picture (RAVEFORCE_UPDATE_SCREENSHOT=1 pytest tests/test_report.py -k screenshot):
        # the first episode with playback moved to step 6.
        page.page.set_viewport_size({"width": 1200, "height": 1760})
        page.page.click("#episode_000 svg.chart rect.step[data-step='6']")
        page.js("window.scrollTo(0, document.getElementById('episode_000').offsetTop - 8)")
        page.page.screenshot(path=str(ROOT / "docs" / "report_screenshot.png"))
