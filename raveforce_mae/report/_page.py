"""The page's HTML, assembled from a :class:`~._run.Run` (plain strings, no template engine)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from urllib.parse import quote

from .. import plots
from ._chart import reward_chart
from ._images import Spectrogram
from ._run import Audio, Episode, Run

__all__ = ["render_page"]

_HZ_LABELS = (50, 100, 200, 500, 1000, 2000, 5000, 10000)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _url(path: str) -> str:
    """A relative URL for a path relative to the run folder (works from disk and over HTTP)."""
    return quote(path, safe="/")


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _hz(f: float) -> str:
    return f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"


def _spectrogram(
    audio: Audio, spec: tuple[str, Spectrogram] | None, alt: str, steps: Sequence[tuple[int, int]]
) -> str:
    if spec is None:
        return ""
    png, s = spec
    marks = []
    for f in _HZ_LABELS:
        if s.fmin < f < s.fmax:
            marks.append(
                f'<span class="hz" style="bottom:{100 * s.y_of(f):.2f}%" aria-hidden="true">{_hz(f)}</span>'
            )
    if len(steps) <= 64:
        for a, _ in steps[1:]:
            x = 100 * a / audio.sample_rate / s.seconds
            marks.append(f'<span class="stepline" style="left:{x:.3f}%" aria-hidden="true"></span>')
    return (
        f'<div class="spec" data-seconds="{s.seconds:.9g}">'
        f'<img src="{_url(png)}" alt="{escape(alt)}" width="{s.db.shape[1]}" height="{s.db.shape[0]}">'
        + "".join(marks)
        + '<span class="playhead" hidden></span></div>'
    )


def _side(
    side: str,
    label: str,
    audio: Audio | None,
    spec: tuple[str, Spectrogram] | None,
    name: str,
    where: str,
    steps: Sequence[tuple[int, int]],
    missing: str,
) -> str:
    letter = "A" if side == "a" else "B"
    head = f'<figcaption>{escape(label)} <span class="letter" aria-hidden="true">{letter}</span></figcaption>'
    if audio is None:
        return f'<figure class="side missing" data-side="{side}">{head}<p class="missing-note">{escape(missing)}</p></figure>'
    what = f"{label} {name}, {where}"
    return (
        f'<figure class="side" data-side="{side}">{head}'
        + _spectrogram(audio, spec, f"Spectrogram of the {what}", steps)
        + f'<audio controls preload="metadata" src="{_url(audio.path)}" data-side="{side}" '
        f'data-frames="{audio.frames}" data-sample-rate="{audio.sample_rate}" aria-label="{escape(what.capitalize())}">'
        f'<a href="{_url(audio.path)}">{escape(audio.path)}</a></audio>'
        f'<a class="file" href="{_url(audio.path)}">{escape(audio.path)}</a> '
        f'<span class="dim">{audio.seconds:.3f} s, {audio.sample_rate} Hz</span>'
        "</figure>"
    )


def _step_options(steps: Sequence[tuple[int, int]], sample_rate: int) -> str:
    return "".join(
        f'<option value="{k}">{k} ({a / sample_rate:.3f} s)</option>' for k, (a, _) in enumerate(steps)
    )


def _row(
    ep: Episode,
    run: Run,
    name: str,
    colour: str,
    specs: Mapping[str, tuple[str, Spectrogram]],
    agent_of: Mapping[str, str],
) -> str:
    rendered = ep.audio.get(name)
    target = run.targets.get(name)
    where = f"episode {ep.index}"
    title = name if name not in agent_of else f'{name} <span class="dim">({escape(agent_of[name])})</span>'
    rid = f"{ep.folder}-{name}"
    missing_target = (
        "No target stem: the target is the mix only." if name != "mix" else "No target mix in targets/."
    )
    controls = ""
    if rendered is not None:
        ab = ""
        if target is not None:
            ab = (
                f'<fieldset class="ab"><legend>Listen to</legend>'
                f'<label><input type="radio" name="ab-{rid}" value="a" checked> rendered (A)</label>'
                f'<label><input type="radio" name="ab-{rid}" value="b"> target (B)</label></fieldset>'
            )
        controls = (
            f'<div class="controls js-only" hidden>{ab}'
            f'<label class="step-pick">Step <select class="step-select">'
            f"{_step_options(ep.steps, rendered.sample_rate)}</select></label>"
            f'<button type="button" class="play-step">Play this step alone</button></div>'
        )
    return (
        f'<div class="row" data-name="{escape(name)}" style="--track:{colour}">'
        f'<h4 class="row-title">{escape(name) if name not in agent_of else title}</h4>'
        '<div class="pair">'
        + _side(
            "a",
            "rendered",
            rendered,
            specs.get(rendered.path) if rendered else None,
            name,
            where,
            ep.steps,
            "Not rendered.",
        )
        + _side(
            "b",
            "target",
            target,
            specs.get(target.path) if target else None,
            name,
            "the target",
            ep.steps,
            missing_target,
        )
        + "</div>"
        + controls
        + "</div>"
    )


def _rewards_table(ep: Episode, sample_rate: int) -> str:
    has_track = bool(ep.track.size and (ep.track == ep.track).any())
    head = ["step", "start (s)", "shared (mix)"]
    for a in ep.agents:
        head.append(f"{a} reward")
        if has_track:
            head.append(f"{a} per-track")
    rows = []
    for k in range(len(ep.shared)):
        start = ep.steps[k][0] / sample_rate if k < len(ep.steps) else math.nan
        cells = [
            f'<th scope="row">{k}</th>',
            f"<td>{_num(start)}</td>",
            f"<td>{_num(float(ep.shared[k]))}</td>",
        ]
        for i in range(len(ep.agents)):
            cells.append(f"<td>{_num(float(ep.rewards[k, i]))}</td>")
            if has_track:
                cells.append(f"<td>{_num(float(ep.track[k, i]))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="numbers"><caption>Reward per step</caption><thead><tr>'
        + "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _performance(ep: Episode) -> str:
    if not ep.sections and not ep.header:
        return "<p>No performance.glicol in this episode.</p>"
    body = [escape(ep.header) + ("\n" if ep.header else "")]
    for s in ep.sections:
        body.append(
            f'<span class="sec" data-start="{s.start}" data-stop="{s.stop}" data-step="{s.step}">{escape(s.text)}\n</span>'
        )
    return (
        f'<pre class="performance" tabindex="0" aria-label="performance.glicol of episode {ep.index}">'
        f"<code>{''.join(body)}</code></pre>"
    )


def _episode(
    ep: Episode, run: Run, specs: Mapping[str, tuple[str, Spectrogram]], colours: Mapping[str, str]
) -> str:
    sr = next(iter(ep.audio.values())).sample_rate if ep.audio else run.sample_rate
    agent_of = {t: a for a, t in ep.agent_tracks.items()}
    names = list(dict.fromkeys(["mix", *run.tracks, *ep.audio]))
    names = [n for n in names if n in ep.audio or n in run.targets]
    agent_colours = {a: colours.get(t, plots.MIX_COLOUR) for a, t in ep.agent_tracks.items()}
    means = ep.agent_means()
    facts = [f"seed {ep.seed}" if ep.seed is not None else "", f"mean reward {_num(ep.mean_reward)}"]
    if ep.mean_shared is not None:
        facts.append(f"shared part {_num(ep.mean_shared)}")
    per_agent = "; ".join(
        f"{escape(a)} {_num(r)}" + (f" (per-track {_num(t)})" if t is not None else "")
        for a, (r, t) in means.items()
    )
    legend = (
        "".join(
            f'<li><span class="swatch" style="background:{agent_colours[a]}"></span>{escape(a)}</li>'
            for a in ep.agents
        )
        + f'<li><span class="swatch dashed" style="border-color:{plots.MIX_COLOUR}"></span>shared (mix)</li>'
    )
    chart = (
        reward_chart(
            episode_id=ep.folder,
            agents=ep.agents,
            colours=agent_colours,
            rewards=ep.rewards,
            shared=ep.shared,
            track=ep.track,
            steps=ep.steps,
            sample_rate=sr,
        )
        if len(ep.shared)
        else "<p>No rewards.csv in this episode.</p>"
    )
    files = " · ".join(f'<a href="{_url(p)}">{escape(n)}</a>' for n, p in ep.files.items())
    steps_json = json.dumps([list(s) for s in ep.steps], separators=(",", ":"))
    head = (
        f'<section class="episode" id="{ep.folder}" aria-labelledby="{ep.folder}-h" '
        f"data-sample-rate=\"{sr}\" data-steps='{steps_json}'>"
        f'<h2 id="{ep.folder}-h">Episode {ep.index} <span class="dim">{escape(" · ".join(f for f in facts if f))}</span></h2>'
    )
    if per_agent:
        head += f'<p class="dim">Per agent: {per_agent}.</p>'
    return head + (
        '<p class="now js-only" hidden aria-live="off">Position <output class="pos">0.000 s</output>, '
        f'step <output class="step-now">0</output> of {len(ep.steps)}</p>'
        f"<h3>Listen: rendered (A) beside target (B)</h3>"
        + "".join(_row(ep, run, n, colours.get(n, plots.MIX_COLOUR), specs, agent_of) for n in names)
        + '<p class="dim spec-note">Spectrograms: time left to right (faint lines at step boundaries), '
        "log frequency bottom to top, one colour scale for the whole page.</p>"
        + f'<h3>Rewards per step</h3><figure class="chart-box">{chart}'
        + f'<figcaption><ul class="legend">{legend}</ul>'
        + '<span class="js-only dim" hidden>Click a step, or focus the chart and use the arrow keys and Enter, '
        "to move playback there.</span></figcaption></figure>"
        + f"<details><summary>Rewards as a table</summary>{_rewards_table(ep, sr)}</details>"
        + "<h3>Performance</h3>"
        + '<p class="dim">The Glicol patch of every step; the section being played is highlighted.</p>'
        + _performance(ep)
        + (f'<p class="files">Files: {files}</p>' if files else "")
        + "</section>"
    )


def _episodes_table(run: Run, shown: set[str]) -> str:
    agents = list(dict.fromkeys(a for e in run.episodes for a in e.agents))
    head = ["episode", "seed", "mean reward", "shared part", *(f"{a}" for a in agents)]
    rows = []
    for e in run.episodes:
        means = e.agent_means()
        name = f"episode {e.index}"
        link = f'<a href="#{e.folder}">{name}</a>' if e.folder in shown else name
        if e.folder == run.best:
            link += ' <span class="badge">best</span>'
        cells = [
            f'<th scope="row">{link}</th>',
            f"<td>{'' if e.seed is None else e.seed}</td>",
            f"<td>{_num(e.mean_reward)}</td>",
            f"<td>{_num(e.mean_shared)}</td>",
        ]
        for a in agents:
            r, t = means.get(a, (math.nan, None))
            cells.append(
                f"<td>{_num(r)}"
                + (f' <span class="dim">({_num(t)})</span>' if t is not None else "")
                + "</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if len(shown) < len(run.episodes):
        note = f'<p class="dim">The page shows {len(shown)} of the {len(run.episodes)} episodes in full (the best and the first ones).</p>'
    return (
        '<section id="episodes" aria-labelledby="episodes-h"><h2 id="episodes-h">Episodes</h2>'
        '<table class="numbers"><caption>Mean reward per episode; per agent: reward (per-track part)</caption>'
        "<thead><tr>"
        + "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + note
        + "</section>"
    )


def _run_info(run: Run) -> str:
    s = run.summary
    sc = s.get("scenario") or {}
    items: list[tuple[str, str]] = []
    scen = f"<strong>{escape(run.scenario)}</strong>"
    if run.description:
        scen += f" — {escape(run.description)}"
    if sc.get("path"):
        scen += f' <span class="dim">({escape(str(sc["path"]))})</span>'
    items.append(("Scenario", scen))
    items.append(("Agent", escape(run.agent)))
    if run.seed is not None:
        items.append(
            (
                "Seed",
                f'{run.seed} <span class="dim">(episode <i>i</i> is played with seed {run.seed} + <i>i</i>)</span>',
            )
        )
    finished = s.get("episodes_finished", len(run.episodes))
    requested = s.get("episodes_requested", finished)
    ep_text = f"{finished} of {requested}" if requested != finished else f"{finished}"
    if s.get("interrupted"):
        ep_text += " (interrupted: the episode in progress was discarded)"
    if s.get("error"):
        ep_text += f" (stopped by an error: {escape(str(s['error']))})"
    items.append(("Episodes", ep_text))
    timing = []
    if sc.get("steps"):
        timing.append(f"{sc['steps']} steps of {float(sc.get('step_seconds', 0)):g} s")
    if run.bpm:
        timing.append(f"{run.bpm:g} bpm")
    timing.append(f"{run.sample_rate} Hz")
    items.append(("Timing", ", ".join(timing)))
    if sc.get("criteria"):
        crit = ", ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in sc["criteria"].items())
        w = sc.get("shared_weight")
        items.append(
            (
                "Reward",
                crit
                + (
                    f"; reward = {w:g} × shared + {1 - w:g} × per-track part"
                    if isinstance(w, (int, float))
                    else ""
                ),
            )
        )
    if s.get("overrides"):
        items.append(("Overrides", escape(", ".join(f"{k}={v!r}" for k, v in s["overrides"].items()))))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    command = (
        f'<h3>Reproduce</h3><pre class="command"><code>{escape(run.command)}</code></pre>'
        if run.command
        else "<p>The command that wrote this run was not recorded.</p>"
    )
    versions = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in run.versions.items()
    )
    vnote = (
        "as recorded by the run"
        if run.versions_recorded
        else "the run did not record them: these are the versions installed when this page was written"
    )
    targets = " · ".join(f'<a href="{_url(a.path)}">{escape(a.path)}</a>' for a in run.targets.values())
    links = '<a href="summary.json">summary.json</a>' if (run.root / "summary.json").is_file() else ""
    return (
        '<section id="run" aria-labelledby="run-h"><h2 id="run-h">Run</h2>'
        f"<dl>{dl}</dl>{command}"
        f'<details><summary>Library versions</summary><table class="numbers"><caption>Library versions ({vnote})</caption>'
        f'<thead><tr><th scope="col">library</th><th scope="col">version</th></tr></thead><tbody>{versions}</tbody></table></details>'
        + (
            f'<p class="files">Files: {links}{" · " if links and targets else ""}{targets}</p>'
            if links or targets
            else ""
        )
        + "</section>"
    )


def render_page(
    run: Run, shown: Sequence[Episode], specs: Mapping[str, tuple[str, Spectrogram]], version: str
) -> str:
    """The whole page.

    Args:
        run: The run.
        shown: The episodes shown in full.
        specs: WAV path (relative to the run folder) -> (PNG path, its spectrogram).
        version: raveforce-mae version writing the page.

    Returns:
        The HTML text.
    """
    colours = plots.track_colours(["mix", *run.tracks])
    title = f"{run.scenario} · {run.agent} — raveforce-mae run"
    toc = "".join(f'<li><a href="#{e.folder}">Episode {e.index}</a></li>' for e in shown)
    body = [
        f'<header><h1>{escape(run.scenario)} <span class="dim">played by</span> {escape(run.agent)}</h1>'
        + (f"<p>{escape(run.description)}</p>" if run.description else "")
        + '<nav aria-label="Contents"><ul><li><a href="#run">Run</a></li>'
        + ('<li><a href="#episodes">Episodes</a></li>' if len(run.episodes) > 1 else "")
        + f"{toc}</ul></nav></header>",
        "<main>",
        _run_info(run),
    ]
    if len(run.episodes) > 1:
        body.append(_episodes_table(run, {e.folder for e in shown}))
    if not run.episodes:
        body.append("<p>This run has no finished episode.</p>")
    body += [_episode(e, run, specs, colours) for e in shown]
    body.append("</main>")
    body.append(
        f'<footer class="dim">Written by raveforce-mae {escape(version)} from the files of this folder; '
        "it needs no server and no network.</footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        # An empty icon: otherwise the browser asks for /favicon.ico, outside the folder.
        '<link rel="icon" href="data:,">\n'
        f"<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )
