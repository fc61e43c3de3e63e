"""Black-box search: greedy over steps, CMA-ES and coordinate sweeps per step and track.

See the package docs (:mod:`raveforce_mae.baselines`) for how the search works.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import RenderSession, SessionState
from ..evaluator import Evaluator
from ..rewards import make_criterion
from .policies import ActionSequencePolicy, Policy

__all__ = [
    "AUTO_EVALUATIONS",
    "SearchPolicy",
    "SearchResult",
    "StepRenderer",
    "auto_budget",
    "search",
    "search_policy",
]

AUTO_EVALUATIONS = 3000
"""With ``budget=None`` the search spends about this many evaluations in total."""
MIN_BUDGET, MAX_BUDGET = 40, 300
"""Bounds of the automatic per-step, per-track budget."""

_DISCRETE_KINDS = frozenset({"note", "choose", "int"})
_MAX_LEVELS = 128  # a discrete parameter with more levels is searched as continuous


@dataclass
class SearchResult:
    """What :func:`search` found.

    Attributes:
        actions: ``actions[step][agent]``: best normalised parameters per step and
            agent (length ``len(track.free)``).
        scores: ``scores[group][step]``: the best reward found for that step (the stem
            reward of the track, or the mix reward when searching jointly).
        groups: The agents of each search group (one agent per group when the
            scenario has target stems).
        evaluations: Rewards computed in total.
        seconds: Wall time of the search.
        optimiser: ``"cma"`` or ``"random"`` (fallback when ``cma`` is missing).
    """

    actions: list[dict[str, np.ndarray]]
    scores: list[list[float]]
    groups: list[list[str]]
    evaluations: int
    seconds: float
    optimiser: str
    history: list[list[list[float]]] = field(default_factory=list, repr=False)
    """``history[group][step]``: every reward evaluated, in order (for convergence plots)."""


class _Dim:
    """One searchable coordinate: a track's free parameter in normalised units."""

    __slots__ = ("levels",)

    def __init__(self, param: Any) -> None:
        self.levels: np.ndarray | None = None
        if getattr(param, "kind", None) in _DISCRETE_KINDS:
            self.levels = _levels(param)


def _levels(param: Any) -> np.ndarray | None:
    """Normalised centres of a discrete parameter's levels, or None if too many."""
    grid = np.linspace(-1.0, 1.0, 2049)
    try:
        vals = np.array([float(param.from_unit(float(u))) for u in grid])
    except Exception:  # noqa: BLE001 - a parameter we cannot probe is searched as continuous
        return None
    edges = np.flatnonzero(np.diff(vals) != 0) + 1
    runs = np.split(grid, edges)
    if len(runs) > _MAX_LEVELS:
        return None
    return np.array([(r[0] + r[-1]) / 2 for r in runs])


class _Group:
    """Tracks searched together against one target row (a stem, or the mix).

    Renders candidates exactly as the environment does. A group scored on its own
    stem renders only its tracks (:class:`StepRenderer`); the group of all tracks
    scored on the mix goes through an :class:`~raveforce_mae.Evaluator`.
    """

    def __init__(self, scenario: Any, track_idx: list[int], row: int) -> None:
        self.sc = scenario
        self.track_idx = track_idx
        self.tracks = [scenario.tracks[i] for i in track_idx]
        self.agents = [t.agent for t in self.tracks]
        self.sizes = [len(t.free) for t in self.tracks]
        self.dims = [_Dim(p) for t in self.tracks for p in t.free]
        self.row = row  # index into (stems..., mix)
        n = len(scenario.tracks)
        if row == n:
            target = scenario.targets.mix
            spec = scenario.criteria["mix"]
        else:
            target = scenario.targets.stems[scenario.tracks[row].name]
            spec = scenario.criteria[scenario.tracks[row].name]
        self.criterion = make_criterion(spec, scenario.sample_rate)
        self.prepared = [
            self.criterion.prepare(np.asarray(target[a:b], np.float32)) for a, b in scenario.bounds
        ]
        self.joint = row == n and track_idx == list(range(n))
        if self.joint:
            self.evaluator = Evaluator(scenario)
            self._dim = self.evaluator.action_dim
        else:
            self.renderer = StepRenderer(scenario, track_idx)

    def _acts(self, x: np.ndarray) -> np.ndarray:
        """A joint vector as the evaluator's ``(n_agents, P)`` action (padding at 0)."""
        out = np.zeros((len(self.agents), self._dim))
        k = 0
        for i, s in enumerate(self.sizes):
            out[i, :s] = x[k : k + s]
            k += s
        return out

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out, k = {}, 0
        for a, s in zip(self.agents, self.sizes, strict=True):
            out[a] = np.asarray(x[k : k + s], np.float64)
            k += s
        return out

    def evaluate(self, prefix: list[dict[str, np.ndarray]], step: int, x: np.ndarray) -> float:
        if self.joint:
            return float(self.evaluator.evaluate(self._acts(x)[None], prefix=prefix or None).mix[0])
        audio = self.renderer.render(prefix, step, self.split(x))
        row = audio[-1] if self.row == len(self.sc.tracks) else audio[self.track_idx.index(self.row)]
        return float(self.criterion.score(row, self.prepared[step]))


class StepRenderer:
    """Renders candidates for one step of a subset of tracks, through a :class:`~raveforce_mae.core.RenderSession`.

    The session renders only these tracks (stems do not depend on each other) and
    mixes them as the environment does, so the rewards found here are the rewards
    the env pays (the tests check it).

    The state after the fixed prefix is kept as a session snapshot, so that a
    candidate for step ``i`` costs one step's render, not ``i + 1``. Snapshots are
    checked once against a replay from fresh engines; if they ever disagree the
    renderer replays the prefix for every candidate instead (exact, slower).

    Args:
        scenario: The scenario.
        track_idx: Indices of the tracks to render.
    """

    _GROWTH_LIMIT = 8 << 20  # rebuild when the engines' memory grew this much past the snapshot

    def __init__(self, scenario: Any, track_idx: list[int]) -> None:
        self.sc = scenario
        self.track_idx = track_idx
        self.tracks = [scenario.tracks[i] for i in track_idx]
        self._mappers = [t.action_mapper() for t in self.tracks]
        self.session = RenderSession(scenario, tracks=track_idx)
        self.use_snapshots = True
        self._checked = False
        self._prefix: list[dict[str, np.ndarray]] = []
        self._state: SessionState | None = None

    def _values(self, acts: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        return {
            t.name: f(np.clip(acts[t.agent], -1.0, 1.0))
            for t, f in zip(self.tracks, self._mappers, strict=True)
        }

    def _replay(
        self, prefix: list[dict[str, np.ndarray]], step: int, cand: dict[str, np.ndarray]
    ) -> np.ndarray:
        self._state = None
        self.session.reset()
        for k in range(step):
            self.session.step(k, self._values(prefix[k]))
        return np.array(self.session.step(step, self._values(cand)))

    def _snapshot_at(self, prefix: list[dict[str, np.ndarray]]) -> None:
        """Bring the snapshot to the state after ``prefix`` (incrementally when possible)."""
        session = self.session
        m = len(self._prefix)
        state = self._state
        if state is not None and m <= len(prefix) and self._same_prefix(prefix, m) and session.valid(state):
            start = m
            session.restore(state)
        else:
            start = 0
            session.reset()
        for k in range(start, len(prefix)):
            session.step(k, self._values(prefix[k]))
        self._state = session.snapshot()
        self._prefix = [dict(p) for p in prefix]

    def render(
        self, prefix: list[dict[str, np.ndarray]], step: int, cand: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Stems of the group's tracks then their sum, for ``step`` after ``prefix``.

        Returns:
            float32 ``(len(track_idx) + 1, frames)``.
        """
        if not self.use_snapshots:
            return self._replay(prefix, step, cand)
        session = self.session
        if self._state is None or not session.valid(self._state) or not self._same_prefix(prefix, step):
            self._snapshot_at(prefix[:step])
        state = self._state
        assert state is not None
        if session.memory_bytes > RenderSession.state_bytes(state) + self._GROWTH_LIMIT:
            self._state = None  # fragmented: rebuild from fresh engines
            self._prefix = []
            session.reset()
            return self.render(prefix, step, cand)
        session.restore(state)
        out = np.array(session.step(step, self._values(cand)))
        if not self._checked and step > 0:
            self._checked = True
            if not np.array_equal(out, self._replay(prefix, step, cand)):
                self.use_snapshots = False  # pragma: no cover - engine internals changed
                warnings.warn(
                    "engine snapshots disagree with a replay; the search falls back to replaying "
                    "(exact, slower)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return out

    def _same_prefix(self, prefix: list[dict[str, np.ndarray]], step: int) -> bool:
        if len(self._prefix) != step:
            return False
        return all(
            all(np.array_equal(self._prefix[k][a], prefix[k][a]) for a in self._prefix[k])
            for k in range(step)
        )


def _optimise_step(
    group: _Group,
    prefix: list[dict[str, np.ndarray]],
    step: int,
    x0: np.ndarray | None,
    budget: int,
    rng: np.random.Generator,
    use_cma: bool,
    tick: Callable[[], None],
) -> tuple[np.ndarray, float, list[float]]:
    """Best normalised vector for one step of one group, within ``budget`` evaluations."""
    dims = group.dims
    d = len(dims)
    seen: list[float] = []
    best_x = np.zeros(d)
    best_f = -math.inf

    def f(x: np.ndarray) -> float:
        nonlocal best_x, best_f
        x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
        r = group.evaluate(prefix, step, x)
        seen.append(r)
        tick()
        if r > best_f:
            best_f, best_x = r, x.copy()
        return r

    def left() -> int:
        return budget - len(seen)

    if d == 0:
        f(best_x)
        return best_x, best_f, seen

    disc = [j for j, dm in enumerate(dims) if dm.levels is not None]
    cont = [j for j, dm in enumerate(dims) if dm.levels is None]

    # 1. The previous step's best (music repeats), a coarse grid that includes the
    #    bounds (a level of 0, "no hit", sits on a bound) and a few random points.
    if x0 is not None:
        f(x0)
    if 3**d <= budget // 6:
        for x in np.stack(np.meshgrid(*[[-1.0, 0.0, 1.0]] * d, indexing="ij"), -1).reshape(-1, d):
            f(x)
    for _ in range(min(max(2, budget // 10), left())):
        f(rng.uniform(-1.0, 1.0, d))

    # 2. Coordinate cycles: every level of each discrete parameter (a note, a
    #    choice) with the others at the incumbent (pitch landscapes are needles that a
    #    continuous optimiser misses), then the continuous parameters with the
    #    discrete ones fixed (a line search in 1-D, CMA-ES otherwise). Repeated while
    #    the budget lasts, since the best note depends on the cutoff and vice versa.
    share = max(12, budget // 3)
    while left() > 0:
        before = best_f
        swept = False
        for j in disc:
            levels = dims[j].levels
            assert levels is not None
            if len(levels) > left():
                continue
            base = best_x.copy()
            for v in levels:
                if v != base[j]:
                    x = base.copy()
                    x[j] = v
                    f(x)
            swept = True
        if cont and left() > 0:
            # without discrete parameters one long CMA-ES run beats restarts
            n = min(share, left()) if disc else left()
            _continuous(f, best_x, best_f, cont, n, rng, use_cma, lambda: best_x, lambda: best_f)
        elif not swept:
            break
        if best_f <= before and not cont:
            break
    while left() > 0:  # what is left: a local random search around the best point
        scale = 0.3 * (left() / budget + 0.05)
        x = best_x + rng.normal(0.0, scale, d)
        for j in disc:  # stay on the levels
            levels = dims[j].levels
            assert levels is not None
            x[j] = levels[int(np.argmin(np.abs(levels - x[j])))]
        f(x)
    return best_x, best_f, seen


def _continuous(
    f: Callable[[np.ndarray], float],
    x_best: np.ndarray,
    f_best: float,
    cont: list[int],
    budget: int,
    rng: np.random.Generator,
    use_cma: bool,
    get_best_x: Callable[[], np.ndarray],
    get_best_f: Callable[[], float],
) -> None:
    """Spend ``budget`` evaluations on the continuous coordinates ``cont`` around ``x_best``."""
    fixed = x_best.copy()
    used = 0

    def g(z: np.ndarray) -> float:
        nonlocal used
        used += 1
        x = fixed.copy()
        x[cont] = z
        return f(x)

    def left() -> int:
        return budget - used

    if len(cont) == 1:
        _line_search(lambda z: g(np.array([z])), float(x_best[cont[0]]), f_best, left)
        return
    if use_cma:
        import cma

        sigma = 0.3
        while left() >= 4:
            popsize = min(4 + int(3 * math.log(len(cont))), left())
            es = cma.CMAEvolutionStrategy(
                get_best_x()[cont],
                sigma,
                {
                    "bounds": [-1.0, 1.0],
                    "popsize": popsize,
                    "seed": int(rng.integers(1, 2**31 - 1)),
                    "verbose": -9,
                    "maxfevals": left(),
                    "tolfun": 1e-9,
                    "tolx": 1e-4,
                },
            )
            while not es.stop() and left() >= popsize:
                zs = es.ask()
                es.tell(zs, [-g(np.asarray(z)) for z in zs])
            sigma = 0.1  # a restart refines around the best point
    while left() > 0:  # no cma, or a few evaluations left: local random search
        scale = 0.3 * (left() / budget + 0.05)
        g(get_best_x()[cont] + rng.normal(0.0, scale, len(cont)))


def _line_search(f: Callable[[float], float], x0: float, f0: float, left: Callable[[], int]) -> None:
    """Grid, then a shrinking bracket around the best point of a 1-D function on [-1, 1].

    ``x0`` with value ``f0`` is the incumbent, kept if no grid point beats it.
    """
    n = max(3, min(17, left() // 3))
    best, best_v = x0, f0
    for z in np.linspace(-1.0, 1.0, n):
        if left() <= 0:
            return
        v = f(float(z))
        if v > best_v:
            best, best_v = float(z), v
    h = 2.0 / (n - 1)
    while left() >= 2 and h > 1e-6:
        for z in (best - h / 2, best + h / 2):
            z = min(1.0, max(-1.0, z))
            v = f(z)
            if v > best_v:
                best, best_v = z, v
        h /= 2


def auto_budget(scenario: Any) -> int:
    """The default budget: ~3,000 evaluations in all, 40 to 300 per step and track.

    ``round(3000 / (tracks x steps))`` clamped to 40..300: ``kick`` (one step, one
    track) gets 300, ``bassline`` 188, ``drums`` 94 and ``ensemble`` 62, so
    that ``raveforce-mae run ensemble --agent search`` takes seconds, not minutes.
    """
    n = max(1, len(scenario.tracks) * scenario.n_steps)
    return int(min(MAX_BUDGET, max(MIN_BUDGET, round(AUTO_EVALUATIONS / n))))


def search(
    scenario: Any,
    budget: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | bool | None = None,
    *,
    optimiser: str = "auto",
    lookahead: int = 0,
) -> SearchResult:
    """Black-box search of every track's numbers against its stem reward.

    Greedy over steps and exact for per-step rewards (see the module docs). Tracks
    are searched one after the other, each against its own target stem; when the
    scenario has no target stems, all tracks are searched together against the mix.

    Args:
        scenario: A :class:`~raveforce_mae.Scenario` (``env.scenario``).
        budget: Reward evaluations per step and per track (per step when searching
            jointly against the mix); ``None``: :func:`auto_budget`. Must be >= 1.
        seed: Seed of the random points and of CMA-ES.
        progress: ``None`` (default): a progress bar (tqdm, on stderr) when stderr is a
            terminal; ``True``: always a bar; ``False``: none; a callable: called as
            ``progress(done, total)`` in evaluations instead of a bar.
        optimiser: ``"cma"`` (needs ``pip install cma``, part of the ``[rl]`` extra),
            ``"random"`` (random points then a local random search), or ``"auto"``
            (``cma`` when installed, otherwise ``"random"`` with a warning).
        lookahead: When searching jointly against the mix: after the greedy pass,
            this many passes that re-choose each step scored together with all the
            steps after it (see :func:`_refine`), so that a hit ringing into the
            next steps is charged there. ``scores`` then hold the refined sequence's
            per-step rewards.

    Returns:
        SearchResult: the best actions and their rewards.

    Raises:
        ValueError: on a bad budget or optimiser.
        ImportError: if ``optimiser="cma"`` and ``cma`` is not installed.
    """
    if budget is None:
        budget = auto_budget(scenario)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive int (evaluations per step and track), got {budget!r}")
    if optimiser not in ("auto", "cma", "random"):
        raise ValueError(f"optimiser must be 'auto', 'cma' or 'random', got {optimiser!r}")
    use_cma = optimiser == "cma"
    if optimiser != "random":
        try:
            import cma  # noqa: F401
        except ImportError:
            if optimiser == "cma":
                raise ImportError(
                    "the CMA-ES search needs the 'cma' package: pip install 'raveforce-mae[rl]' "
                    "(or pip install cma)"
                ) from None
            warnings.warn(
                "'cma' is not installed: the search falls back to random + local search "
                "(pip install 'raveforce-mae[rl]' for CMA-ES)",
                stacklevel=2,
            )
        else:
            use_cma = True

    sc = scenario
    n = len(sc.tracks)
    with _single_threaded_blas():
        if sc.targets.per_track_available and all(
            sc.targets.stems.get(t.name) is not None for t in sc.tracks
        ):
            groups = [_Group(sc, [i], i) for i in range(n)]
        else:
            groups = [_Group(sc, list(range(n)), n)]
    total = len(groups) * sc.n_steps * int(budget)
    done = 0
    bar = _bar(progress, total, f"search {sc.name}")
    report = progress if callable(progress) else None

    def tick() -> None:
        nonlocal done
        done += 1
        if report is not None:
            report(done, total)
        if bar is not None:
            bar.update(1)

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    try:
        with _single_threaded_blas():
            actions, scores, history = _search_groups(groups, sc, int(budget), rng, use_cma, tick, lookahead)
    finally:
        if bar is not None:
            bar.close()
    if report is not None and done < total:
        report(total, total)
    return SearchResult(
        actions=actions,
        scores=scores,
        groups=[g.agents for g in groups],
        evaluations=done,
        seconds=time.perf_counter() - t0,
        optimiser="cma" if use_cma else "random",
        history=history,
    )


def _bar(progress: Any, total: int, desc: str) -> Any:
    """A tqdm bar on stderr, or ``None`` (see ``progress`` in :func:`search`)."""
    if callable(progress) or progress is False:
        return None
    if progress is None and not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    # evaluations can finish early (discrete grids); the bar then stops short of total
    return tqdm(total=total, desc=desc, unit="eval", leave=False, file=sys.stderr)


def _single_threaded_blas() -> Any:
    """Limit BLAS to one thread for the search.

    The search's matrices are small, and a BLAS thread pool on a busy machine made a
    reward evaluation 10-30x slower (measured: 32 ms vs 1 ms for ``pitch``).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with librosa's scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _search_groups(
    groups: list[_Group],
    sc: Any,
    budget: int,
    rng: np.random.Generator,
    use_cma: bool,
    tick: Callable[[], None],
    lookahead: int = 0,
) -> tuple[list[dict[str, np.ndarray]], list[list[float]], list[list[list[float]]]]:
    actions: list[dict[str, np.ndarray]] = [{} for _ in range(sc.n_steps)]
    scores: list[list[float]] = []
    history: list[list[list[float]]] = []
    for g in groups:
        prefix: list[dict[str, np.ndarray]] = []
        g_scores, g_hist = [], []
        x_prev: np.ndarray | None = None
        for k in range(sc.n_steps):
            x, r, seen = _optimise_step(g, prefix, k, x_prev, budget, rng, use_cma, tick)
            part = g.split(x)
            prefix.append(part)
            for a, u in part.items():
                actions[k][a] = u.astype(np.float32)
            g_scores.append(r)
            g_hist.append(seen)
            x_prev = x
        if g.joint and lookahead > 0:
            xs = [np.concatenate([p[a] for a in g.agents]) for p in prefix]
            g_scores = _refine(g, xs, lookahead, max(8, budget // 4), rng)
            for k, x in enumerate(xs):
                for a, u in g.split(x).items():
                    actions[k][a] = u.astype(np.float32)
        scores.append(g_scores)
        history.append(g_hist)
    return actions, scores, history


def _refine(
    group: _Group, xs: list[np.ndarray], passes: int, per_step: int, rng: np.random.Generator
) -> list[float]:
    """Coordinate passes over the steps of a greedy result, scored on the rest of the episode.

    A greedy search scores step ``k`` alone, so a hit that rings into the steps after
    it is never charged for them. Here each step's choice is re-scored by the sum of
    the rewards of steps ``k .. end`` with the other steps as they stand (the
    incumbent is among the candidates, so the episode's reward never decreases):
    candidates are the incumbent, silence (every parameter at its lowest, i.e. no
    hit for a level), each parameter alone set to its lowest, and random
    perturbations. Rewards come from :meth:`~raveforce_mae.Evaluator.evaluate_sequence`.

    Returns:
        Each step's own reward for the refined sequence.
    """
    ev = group.evaluator
    n = len(xs)
    d = len(xs[0]) if xs else 0
    for _ in range(passes):
        for k in range(n):
            base = xs[k]
            cands = [base, np.full(d, -1.0)]
            for j in range(d):
                c = base.copy()
                c[j] = -1.0
                cands.append(c)
            while len(cands) < per_step:
                cands.append(np.clip(base + rng.normal(0.0, 0.3, d), -1.0, 1.0))
            seqs = np.stack([[group._acts(c)] + [group._acts(x) for x in xs[k + 1 :]] for c in cands])
            prefix = [group.split(x) for x in xs[:k]]
            total = ev.evaluate_sequence(seqs, prefix=prefix or None).mix.sum(axis=1)
            xs[k] = cands[int(np.argmax(total))]  # the incumbent wins ties (it comes first)
    seq = np.stack([group._acts(x) for x in xs])[None]
    return ev.evaluate_sequence(seq).mix[0].tolist()


class SearchPolicy(ActionSequencePolicy):
    """Replays the actions found by :func:`search` (run once, at construction)."""

    def __init__(self, env: Any, result: SearchResult) -> None:
        super().__init__(env, result.actions, "search")
        self.result = result


def search_policy(
    env: Any,
    budget: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | bool | None = None,
) -> Policy:
    """Black-box search baseline: runs :func:`search` once, then replays the best actions.

    Args:
        env: The parallel env (its scenario is searched; the env itself is not stepped).
        budget: Evaluations per step and track; ``None``: :func:`auto_budget`.
        seed: Seed of the search.
        progress: A progress bar or callback, as for :func:`search` (``False``: none).

    Returns:
        The policy; ``policy.result`` is the :class:`SearchResult`.
    """
    return SearchPolicy(env, search(env.scenario, budget=budget, seed=seed, progress=progress))
