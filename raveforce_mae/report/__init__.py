"""A listening page for a run: ``report.html`` in the run folder.

>>> from raveforce_mae.report import write_report
>>> write_report("runs/ensemble-search")          # doctest: +SKIP
PosixPath('runs/ensemble-search/report.html')

The page opens from disk in any browser, with no server and no network: it links the
run's WAV files by relative paths, its spectrogram pictures live in ``report_files/``
beside it, and its style and script are inside the HTML. Copy or zip the whole folder
and it keeps working. Per episode it shows the mix and every stem beside its target
(players, spectrograms with a playhead, an A/B switch that keeps the position, a
button that plays one step alone), the rewards per step as a chart that moves playback
to a clicked step, and the performance text with the section being played
highlighted. Without JavaScript the players, pictures and tables are all still there.
See ``docs/report.md``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ParameterError
from ._run import RunFolderError, read_run

__all__ = ["FILES_DIR", "REPORT_NAME", "RunFolderError", "write_report"]

REPORT_NAME = "report.html"
"""File name of the page in the run folder."""

FILES_DIR = "report_files"
"""Folder beside the page holding its pictures (written anew with the page)."""


def write_report(run_dir: str | os.PathLike[str], *, max_episodes: int | None = 24) -> Path:
    """Write ``report.html`` (and ``report_files/``) into a run folder.

    Writing again replaces both; nothing else in the folder is changed. The files are
    written under temporary names and renamed into place, so an interrupted call never
    leaves a half-written page.

    Args:
        run_dir: A folder written by ``raveforce-mae run`` (``summary.json``,
            ``targets/``, ``episode_NNN/``).
        max_episodes: Episodes shown in full (players, pictures, chart, performance):
            the best episode and the first ones, in order. The table of episodes
            lists them all. ``None`` shows every episode (a page with hundreds of
            players is slow to open).

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: if ``run_dir`` does not exist.
        RunFolderError: if ``run_dir`` is not a run folder, or one of its files is
            malformed.
        ParameterError: if ``max_episodes`` is not a positive integer or ``None``.
    """
    if max_episodes is not None and (
        isinstance(max_episodes, bool) or not isinstance(max_episodes, int) or max_episodes < 1
    ):
        raise ParameterError(f"max_episodes must be a positive integer or None, got {max_episodes!r}")
    from .. import __version__
    from . import _images
    from ._page import render_page

    run = read_run(run_dir)
    root = run.root
    shown = run.episodes
    if max_episodes is not None and len(shown) > max_episodes:
        keep = {e.folder for e in shown[:max_episodes]}
        if run.best and run.best not in keep:
            keep = {e.folder for e in shown[: max_episodes - 1]} | {run.best}
        shown = [e for e in run.episodes if e.folder in keep]

    # One spectrogram per WAV on the page, all on one colour scale.
    wavs = {a.path: a for a in run.targets.values()}
    for e in shown:
        wavs.update((a.path, a) for a in e.audio.values())
    computed = {p: _images.compute(root / p) for p in wavs}
    vmin, vmax = _images.level_range(list(computed.values()))
    pngs = {p: f"{FILES_DIR}/{Path(p).with_suffix('.png').as_posix()}" for p in wavs}

    staging = root / f".{FILES_DIR}.partial-{os.getpid()}"
    page_tmp = root / f".{REPORT_NAME}.partial-{os.getpid()}"
    old = root / f".{FILES_DIR}.old-{os.getpid()}"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        _images.save_all(
            [(s, staging / Path(pngs[p]).relative_to(FILES_DIR)) for p, s in computed.items()], vmin, vmax
        )
        html = render_page(run, shown, {p: (pngs[p], s) for p, s in computed.items()}, __version__)
        page_tmp.write_text(html, encoding="utf-8")
        final = root / FILES_DIR
        if final.exists():
            os.rename(final, old)
        os.rename(staging, final)
        os.replace(page_tmp, root / REPORT_NAME)
    finally:
        for p in (staging, old):
            if p.exists():
                shutil.rmtree(p, ignore_errors=True)
        if page_tmp.exists():
            page_tmp.unlink()
    return root / REPORT_NAME
