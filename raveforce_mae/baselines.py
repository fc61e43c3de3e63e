"""Baseline policies: random, black-box search and the scenario's reference.

Three reference points bracket what a learner can reach on a scenario:

* :func:`random_policy`: uniform actions, the floor.
* :func:`search_policy`: a black-box optimiser (CMA-ES from the ``cma`` library) that
  tunes each track's numbers against that track's stem reward, step by step. It
  uses no gradients and no learning, only renders and rewards, so it is the non-RL
  reference that a learner must approach.
* :func:`reference_policy`: the scenario's own performance (the numbers that
  rendered the target), the ceiling.

Every policy has the same small interface (:class:`Policy`) and is played with
:func:`play_episode`::

    >>> import raveforce_mae
    >>> from raveforce_mae import baselines
    >>> env = raveforce_mae.parallel_env("kick")
    >>> result = baselines.play_episode(env, baselines.search_policy(env, budget=100))
    >>> result.mean_reward   # doctest: +SKIP

A trained Stable-Baselines3 model (a ``.zip`` saved by ``examples/train_sb3_ppo.py``)
plays through the same interface with :func:`load_policy`.

How the search works
--------------------
The audio of step ``i`` depends only on the numbers of steps ``0..i`` (the engine
carries oscillator phase, envelopes and sequencer position from one step into the
next, but never looks ahead), and rewards are per step. The search is therefore
greedy over steps: with the best numbers of steps ``0..i-1`` fixed, each candidate
for step ``i`` is rendered from the engine state after that prefix (kept as a
snapshot of the track's wasm instance, so a candidate costs one step's render) and
scored exactly as the environment scores it. Greedy is exact for each step's reward
but myopic: a choice that would only pay off in later steps (a long tail) is not
seen.

Per step and track, ``budget`` candidates are evaluated: the previous step's best
(music repeats), a coarse grid that includes the bounds, a few random points, then
coordinate cycles: every level of the discrete parameters (``note``, ``choose``,
``int``) with the others fixed, then CMA-ES (a line search in one dimension) on the
continuous ones. When the scenario has no target stems, all tracks are searched
together against the mix. ``budget=None`` spends about 3,000 evaluations in all
(:func:`auto_budget`): seconds to tens of seconds on one core.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "EpisodeResult",
    "auto_budget",
    "Policy",
    "SearchResult",
    "load_policy",
    "make_policy",
    "play_episode",
    "random_policy",
    "reference_policy",
    "search",
    "search_policy",
]

POLICY_KINDS = ("random", "search", "reference")
AUTO_EVALUATIONS = 3000
"""With ``budget=None`` the search spends about this many evaluations in total."""
MIN_BUDGET, MAX_BUDGET = 40, 300
"""Bounds of the automatic per-step, per-track budget."""

_DISCRETE_KINDS = frozenset({"note", "choose", "int"})
_MAX_LEVELS = 128  # a discrete parameter with more levels is searched as continuous


# ------------------------------------------------------------------------------------
# Interface
# ------------------------------------------------------------------------------------


@runtime_checkable
class Policy(Protocol):
    """What :func:`play_episode` and the CLI need from a policy.

    Attributes:
        name: Short label for tables and plots (``"random"``, ``"search"``, ...).
    """

    name: str

    def reset(self, env: Any, seed: int | None = None) -> None:
        """Prepare for a new episode; called right after ``env.reset``."""

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Actions (float32, the shape of ``env.action_space(agent)``) for ``env.agents``."""


def _pad(env: Any, agent: str, unit: Sequence[float] | np.ndarray) -> np.ndarray:
    """A track's normalised parameters as a full action of ``env.action_space(agent)``."""
    shape = env.action_space(agent).shape
    out = np.zeros(shape, np.float32)
    u = np.asarray(unit, np.float32).ravel()
    n = min(u.size, out.size)
    out[:n] = u[:n]
    return out


class RandomPolicy:
    """Uniform actions in [-1, 1] from a seeded generator (the floor)."""

    name = "random"

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.env = env
        self._seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        return {
            a: self.rng.uniform(-1.0, 1.0, self.env.action_space(a).shape).astype(np.float32)
            for a in self.env.agents
        }


class ActionSequencePolicy:
    """Replays a fixed normalised action per step and track (reference and search).

    Args:
        env: The parallel env.
        actions: ``actions[step][agent]`` = the track's normalised parameters (its own
            length; padded to the action space here). Steps past the end loop, as the
            scenario's targets do.
        name: Label of the policy.
    """

    def __init__(self, env: Any, actions: list[dict[str, np.ndarray]], name: str) -> None:
        if not actions:
            raise ValueError("actions must hold at least one step")
        self.env = env
        self.name = name
        self.actions = actions

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        row = self.actions[step % len(self.actions)]
        return {a: _pad(self.env, a, row[a]) for a in self.env.agents}


def random_policy(env: Any, seed: int | None = None) -> Policy:
    """Uniform random actions (seeded), the floor of every scenario."""
    return RandomPolicy(env, seed)


def reference_policy(env: Any) -> Policy:
    """The scenario's own performance: the numbers that rendered its target (the ceiling).

    Raises:
        ValueError: if the scenario has no reference (its target is a recording).
    """
    sc = env.scenario
    if sc.reference is None:
        raise ValueError(
            f"scenario {sc.name!r} has no reference performance (its target is not rendered "
            "from a patch); use 'search' as the strongest baseline instead"
        )
    actions = [
        {a: np.asarray(u, np.float32) for a, u in sc.reference_actions(k).items()} for k in range(sc.n_steps)
    ]
    return ActionSequencePolicy(env, actions, "reference")


# ------------------------------------------------------------------------------------
# Black-box search
# ------------------------------------------------------------------------------------


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

    Renders candidates exactly as the environment does: one fresh render session per
    candidate, the fixed prefix replayed, then the candidate step.
    """

    def __init__(self, scenario: Any, track_idx: list[int], row: int) -> None:
        from .rewards import make_criterion

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
        self.renderer = _Renderer(scenario, track_idx)

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out, k = {}, 0
        for a, s in zip(self.agents, self.sizes, strict=True):
            out[a] = np.asarray(x[k : k + s], np.float64)
            k += s
        return out

    def evaluate(self, prefix: list[dict[str, np.ndarray]], step: int, x: np.ndarray) -> float:
        audio = self.renderer.render(prefix, step, self.split(x))
        row = audio[-1] if self.row == len(self.sc.tracks) else audio[self.track_idx.index(self.row)]
        return float(self.criterion.score(row, self.prepared[step]))


class _Renderer:
    """Renders a subset of tracks step by step exactly as :class:`~raveforce_mae.core.RenderSession`.

    One engine per track of the subset (the other tracks are not rendered: stems do not
    depend on each other). Stems are the engines' left channel and the mix is their
    float32 sum in track order, as in the session; the tests check that the rewards
    found here are the rewards the env pays.

    The state after the fixed prefix is kept as a snapshot of each engine, so that a
    candidate for step ``i`` costs one step's render, not ``i + 1``. Snapshots are
    checked once against a replay from a fresh instance; if they ever disagree the
    renderer replays the prefix for every candidate instead (exact, slower).
    """

    _GROWTH_LIMIT = 8 << 20  # rebuild an engine whose memory grew this much past its snapshot

    def __init__(self, scenario: Any, track_idx: list[int]) -> None:
        import glicol_wasm

        self.sc = scenario
        self.track_idx = track_idx
        self.tracks = [scenario.tracks[i] for i in track_idx]
        self.formatters = [t.code_formatter() for t in self.tracks]
        self.frames = [b - a for a, b in scenario.bounds]
        self.engines = []
        for _ in self.tracks:
            eng = glicol_wasm.Engine(scenario.sample_rate, bpm=scenario.bpm, seed=scenario.seed)
            for name, (audio, rate) in scenario.samples.items():
                eng.load_sample(name, audio, rate)
            self.engines.append(eng)
        self.use_snapshots = True
        self._checked = False
        self._prefix: list[dict[str, np.ndarray]] = []
        self._snaps: list[Any] | None = None
        self._last: list[str | None] = [None] * len(self.tracks)

    def _code(self, j: int, acts: dict[str, np.ndarray]) -> str:
        t = self.tracks[j]
        return self.formatters[j](t.values(np.clip(acts[t.agent], -1.0, 1.0)))

    def _play(self, j: int, k: int, acts: dict[str, np.ndarray], last: list[str | None]) -> np.ndarray:
        code = self._code(j, acts)
        eng = self.engines[j]
        if code != last[j]:
            eng.set_code(code)
            last[j] = code
        return eng.render(self.frames[k])[0]

    def _replay(
        self, prefix: list[dict[str, np.ndarray]], step: int, cand: dict[str, np.ndarray]
    ) -> np.ndarray:
        out = np.empty((len(self.tracks) + 1, self.frames[step]), np.float32)
        last: list[str | None] = [None] * len(self.tracks)
        for j, eng in enumerate(self.engines):
            eng.reset()
            for k in range(step):
                self._play(j, k, prefix[k], last)
            out[j] = self._play(j, step, cand, last)
        return self._mix(out)

    def _mix(self, out: np.ndarray) -> np.ndarray:
        mix = out[-1]
        mix[:] = out[0]
        for j in range(1, len(self.tracks)):
            mix += out[j]
        return out

    def _snapshot_at(self, prefix: list[dict[str, np.ndarray]]) -> None:
        """Bring the snapshots to the state after ``prefix`` (incrementally when possible)."""
        n = len(prefix)
        m = len(self._prefix)
        if (
            self._snaps is not None
            and m <= n
            and self._same_prefix(prefix, m)
            and all(sn.valid_for(eng) for sn, eng in zip(self._snaps, self.engines, strict=True))
        ):
            start = len(self._prefix)
            for j, eng in enumerate(self.engines):
                eng.restore(self._snaps[j])
        else:
            start = 0
            self._last = [None] * len(self.tracks)
            for eng in self.engines:
                eng.reset()
        for j, _ in enumerate(self.engines):
            for k in range(start, n):
                self._play(j, k, prefix[k], self._last)
        self._snaps = [eng.snapshot() for eng in self.engines]
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
        if (
            self._snaps is None
            or any(not sn.valid_for(eng) for sn, eng in zip(self._snaps, self.engines, strict=True))
            or not self._same_prefix(prefix, step)
        ):
            self._snaps = None
            self._snapshot_at(prefix[:step])
        assert self._snaps is not None
        out = np.empty((len(self.tracks) + 1, self.frames[step]), np.float32)
        for j, eng in enumerate(self.engines):
            if eng.memory_bytes > self._snaps[j].nbytes + self._GROWTH_LIMIT:
                self._snaps = None  # fragmented: rebuild from a fresh instance
                return self.render(prefix, step, cand)
            eng.restore(self._snaps[j])
            out[j] = self._play(j, step, cand, list(self._last))
        out = self._mix(out)
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
            self._snaps = None
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

    ``kick`` (one step, one track) gets 300, ``bassline`` 187 and ``ensemble`` 62, so
    that ``raveforce-mae run ensemble --agent search`` takes seconds, not minutes.
    """
    n = max(1, len(scenario.tracks) * scenario.n_steps)
    return int(min(MAX_BUDGET, max(MIN_BUDGET, round(AUTO_EVALUATIONS / n))))


def search(
    scenario: Any,
    budget: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    *,
    optimiser: str = "auto",
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
        progress: Called as ``progress(done, total)`` in evaluations.
        optimiser: ``"cma"`` (needs ``pip install cma``, part of the ``[rl]`` extra),
            ``"random"`` (random points then a local random search), or ``"auto"``
            (``cma`` when installed, otherwise ``"random"`` with a warning).

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

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with _single_threaded_blas():
        actions, scores, history = _search_groups(groups, sc, int(budget), rng, use_cma, tick)
    if progress is not None and done < total:
        progress(total, total)
    return SearchResult(
        actions=actions,
        scores=scores,
        groups=[g.agents for g in groups],
        evaluations=done,
        seconds=time.perf_counter() - t0,
        optimiser="cma" if use_cma else "random",
        history=history,
    )


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
        scores.append(g_scores)
        history.append(g_hist)
    return actions, scores, history


class SearchPolicy(ActionSequencePolicy):
    """Replays the actions found by :func:`search` (run once, at construction)."""

    def __init__(self, env: Any, result: SearchResult) -> None:
        super().__init__(env, result.actions, "search")
        self.result = result


def search_policy(
    env: Any,
    budget: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Policy:
    """Black-box search baseline: runs :func:`search` once, then replays the best actions.

    Args:
        env: The parallel env (its scenario is searched; the env itself is not stepped).
        budget: Evaluations per step and track; ``None``: :func:`auto_budget`.
        seed: Seed of the search.
        progress: ``progress(done, total)`` callback, in evaluations.

    Returns:
        The policy; ``policy.result`` is the :class:`SearchResult`.
    """
    return SearchPolicy(env, search(env.scenario, budget=budget, seed=seed, progress=progress))


# ------------------------------------------------------------------------------------
# Trained models
# ------------------------------------------------------------------------------------


class SB3Policy:
    """A Stable-Baselines3 model shared by all agents (deterministic actions)."""

    def __init__(self, env: Any, model: Any, path: str) -> None:
        self.env = env
        self.model = model
        self.name = f"sb3:{path}"

    def reset(self, env: Any, seed: int | None = None) -> None:  # noqa: D102 - see Policy
        self.env = env

    def __call__(self, step: int, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: D102
        agents = list(self.env.agents)
        obs = np.stack([observations[a] for a in agents])
        acts, _ = self.model.predict(obs, deterministic=True)
        return {a: np.asarray(acts[i], np.float32) for i, a in enumerate(agents)}


def load_policy(path: str, env: Any) -> Policy:
    """Load a Stable-Baselines3 model saved with ``model.save(path)`` as a shared policy.

    The model must have been trained on this scenario's observation and action
    spaces (parameter sharing with the agent indicator, as in
    ``examples/train_sb3_ppo.py``).

    Raises:
        ImportError: if stable-baselines3 is not installed.
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the model's spaces do not match the env's.
    """
    import os

    if not os.path.exists(path) and not os.path.exists(path + ".zip"):
        raise FileNotFoundError(f"no saved model at {path!r}")
    try:
        from stable_baselines3.common.base_class import BaseAlgorithm
        from stable_baselines3.common.save_util import load_from_zip_file
    except ImportError:
        raise ImportError(
            "loading a trained policy needs stable-baselines3: pip install 'raveforce-mae[rl]' "
            "(on CPU-only machines, pip install torch first)"
        ) from None
    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    algo_name = (data or {}).get("policy_class", None)
    cls = _sb3_algorithm(data)
    model: BaseAlgorithm = cls.load(path, device="cpu")
    agent = env.possible_agents[0]
    obs_space, act_space = env.observation_space(agent), env.action_space(agent)
    if model.observation_space.shape != obs_space.shape or model.action_space.shape != act_space.shape:
        raise ValueError(
            f"model {path!r} ({algo_name}) was trained with observations {model.observation_space.shape} "
            f"and actions {model.action_space.shape}; scenario {env.scenario.name!r} has "
            f"{obs_space.shape} and {act_space.shape}"
        )
    return SB3Policy(env, model, path)


def _sb3_algorithm(data: dict[str, Any] | None) -> Any:
    """The SB3 algorithm class that saved ``data`` (PPO unless the policy says otherwise)."""
    import stable_baselines3 as sb3

    policy = str((data or {}).get("policy_class", ""))
    for name in ("SAC", "TD3", "DDPG", "A2C"):
        if f"{name.lower()}." in policy.lower() or f".{name.lower()}" in policy.lower():
            return getattr(sb3, name)
    return sb3.PPO


def make_policy(
    kind: str,
    env: Any,
    *,
    seed: int = 0,
    budget: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Policy:
    """A policy by name (``"random"``, ``"search"``, ``"reference"``) or a saved model path.

    Raises:
        ValueError: on an unknown kind that is not an existing file, or ``reference`` on
            a scenario without one.
    """
    import os

    if kind == "random":
        return random_policy(env, seed)
    if kind == "search":
        return search_policy(env, budget=budget, seed=seed, progress=progress)
    if kind == "reference":
        return reference_policy(env)
    if os.path.exists(kind) or os.path.exists(kind + ".zip"):
        return load_policy(kind, env)
    raise ValueError(
        f"unknown policy {kind!r}: expected one of {list(POLICY_KINDS)} or a path to a saved model"
    )


# ------------------------------------------------------------------------------------
# Playing
# ------------------------------------------------------------------------------------


@dataclass
class EpisodeResult:
    """One episode played by a policy.

    Attributes:
        rewards: ``(steps, n_agents)`` blended rewards, agents in ``env.possible_agents`` order.
        shared: ``(steps,)`` the shared (mix) part.
        track: ``(steps, n_agents)`` the per-track part, NaN where the scenario has no stem.
        values: Per step, the parameter values each track played: ``{track: {param: value}}``.
        audio: The rendered stems and ``"mix"`` (mono float32).
        patch: The merged Glicol patch of the episode.
        agents: Agent names, the columns of ``rewards`` and ``track``.
    """

    rewards: np.ndarray
    shared: np.ndarray
    track: np.ndarray
    values: list[dict[str, dict[str, float]]]
    audio: dict[str, np.ndarray]
    patch: str
    agents: list[str] = field(default_factory=list)

    @property
    def mean_reward(self) -> float:
        """Mean blended reward per step and agent (the scale of a single reward)."""
        return float(self.rewards.mean()) if self.rewards.size else float("nan")

    @property
    def returns(self) -> np.ndarray:
        """Episode return (sum over steps) of each agent."""
        return self.rewards.sum(axis=0)

    @property
    def mean_return(self) -> float:
        """Episode return averaged over agents (what SB3's ``ep_rew_mean`` reports)."""
        return float(self.returns.mean()) if self.rewards.size else float("nan")


def play_episode(env: Any, policy: Policy, seed: int | None = None) -> EpisodeResult:
    """Play one episode of ``policy`` in the parallel env ``env``.

    Args:
        env: A :class:`~raveforce_mae.RaveforceParallelEnv`.
        policy: Any :class:`Policy`.
        seed: Passed to ``env.reset`` and ``policy.reset``.

    Returns:
        EpisodeResult: rewards, their parts, the values played, the audio and the patch.
    """
    obs, _ = env.reset(seed=seed)
    policy.reset(env, seed)
    agents = list(env.possible_agents)
    rewards, shared, track, values = [], [], [], []
    step = 0
    while env.agents:
        actions = policy(step, obs)
        obs, rew, _, _, infos = env.step(actions)
        rewards.append([rew.get(a, np.nan) for a in agents])
        first = infos[agents[0]]
        shared.append(first["reward_shared"])
        track.append(
            [np.nan if infos[a].get("reward_track") is None else infos[a]["reward_track"] for a in agents]
        )
        values.append({t.name: dict(infos[t.agent]["values"]) for t in env.scenario.tracks})
        step += 1
    return EpisodeResult(
        rewards=np.asarray(rewards, np.float64).reshape(-1, len(agents)),
        shared=np.asarray(shared, np.float64),
        track=np.asarray(track, np.float64).reshape(-1, len(agents)),
        values=values,
        audio=env.audio(),
        patch=env.patch(),
        agents=agents,
    )
