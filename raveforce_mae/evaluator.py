"""Batched evaluation of candidate actions, for sound matching and search.

Sound-matching methods (random search, genetic algorithms, CMA-ES) score thousands
of candidate parameter sets for one step against one target. Stepping an
environment costs a ``reset`` (fresh engine instances) and a ``step`` per
candidate; :class:`Evaluator` does the same work without the episode bookkeeping:

* the engines are made once and brought back to the state before the step with a
  snapshot (:meth:`~raveforce_mae.core.RenderSession.restore`), not rebuilt;
* the state after a fixed prefix of earlier steps is kept, so a candidate for step
  ``k`` of a sequence costs one step's render, not ``k + 1``;
* a batch can be spread over worker processes (``workers=``), each with its own
  engines, made once when the pool starts.

Rewards are computed by the task's own reward path (:meth:`~raveforce_mae.task.Task.analyse`,
:meth:`~raveforce_mae.task.Task.reward`), so they are bit-identical to what
:class:`~raveforce_mae.RaveforceParallelEnv` pays for the same actions after the same
earlier steps (the tests check it)::

    ev = raveforce_mae.Evaluator("kick")
    x = np.random.default_rng(0).uniform(-1, 1, (1000, 2))   # 1,000 candidates
    result = ev.evaluate(x)                                   # step 0
    result.rewards                                            # shape (1000,)
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .analysis import Analysis
from .core import RENDER_THREADS_VAR, RenderSession, SessionState, packing_refusal
from .errors import EngineError, ParameterError
from .patch import CodeLine, Template
from .rewards import blend
from .scenario import Scenario, Track, load_scenario
from .task import Task

__all__ = ["Evaluation", "Evaluator"]


@dataclass(frozen=True)
class Evaluation:
    """The rewards of a batch of candidates (``N`` of them) for one step.

    Attributes:
        agents: Each agent's reward, ``(N, n_agents)`` float64: what the
            environment pays each agent for that step.
        mix: The shared part (the mix against the target mix), ``(N,)``.
        tracks: Each track's stem against its target stem, ``(N, n_tracks)``; NaN
            without a target stem.
        errors: ``{candidate index: message}`` for candidates whose render failed
            in the engine; their rewards are 0.0, as the environment pays for a step
            that an engine fault truncates.
    """

    agents: np.ndarray
    mix: np.ndarray
    tracks: np.ndarray
    errors: Mapping[int, str]

    @property
    def rewards(self) -> np.ndarray:
        """One number per candidate, ``(N,)``: the mean of the agents' rewards.

        For a one-track scenario this is the agent's reward; when every track is
        scored on the mix alone it is the mix reward.
        """
        a = self.agents
        return a.mean(axis=-1) if a.shape[-1] > 1 else a[..., 0].copy()


class Evaluator:
    """Scores batches of candidate actions for one step of a scenario.

    Args:
        scenario: A built-in name, a path to a TOML file, or a
            :class:`~raveforce_mae.Scenario` (``env.scenario``).
        workers: Processes to spread a batch over (``1``: in this process, on one
            core; ``0`` or ``None``: one per core). Each worker builds its own engines
            once. (The environments render their engines on threads; an Evaluator
            spreads work over processes only, which scale better here because the
            analysis holds the GIL.)
        **overrides: Scenario settings (``criterion``, ``shared_weight``, ...), as
            for the environments.

    Attributes:
        scenario: The scenario.
        agents: The agents, in track order.
        action_dim: ``P``, the length of each agent's action (the environment's
            padded action space: the largest parameter count of any track).
    """

    def __init__(
        self, scenario: str | Scenario = "kick", *, workers: int | None = 1, **overrides: Any
    ) -> None:
        if isinstance(scenario, Scenario):
            sc = scenario.replace(**overrides) if overrides else scenario
        else:
            sc = load_scenario(scenario, **overrides)
        self.scenario = sc
        self.agents = list(sc.agents)
        self._n_free = [len(t.free) for t in sc.tracks]
        self.action_dim = max(self._n_free) if self._n_free else 0
        self._task = Task(sc)
        # Worker processes are this class's parallelism: its engines render one at a
        # time, so that ``workers=1`` keeps a batch on one core.
        self._task.render_threads = 1
        self._task.reset()
        session = self._task.session
        assert session is not None
        self._session: RenderSession = session
        self._fresh = session.snapshot()
        self._prefix_key: bytes | None = b""
        self._prefix_state: SessionState = self._fresh
        if workers is None or workers == 0:
            workers = multiprocessing.cpu_count()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, 0 or None (one per core), got {workers!r}")
        self.workers = workers
        self._pool: Any = None
        self.chunk = 4
        """Candidates rendered, then analysed together (bounds the memory of a batch)."""
        self.batch_features = True
        """Whether features are computed for a chunk at once (see :meth:`_score`)."""
        self.batch_distances = True
        """Whether the distances to the target are too (see :meth:`_score`)."""
        self._batch_checked = False
        self._tiled: dict[tuple[int, int, int], Any] = {}
        self.pack_candidates = True
        """Whether a one-track scenario's candidates are rendered two per engine (see :meth:`_twins`)."""
        self._twin: tuple[RenderSession, SessionState, str, str] | None = None
        self._twin_key = b""

    # -- input ------------------------------------------------------------------------------

    def _check(self, actions: Any, what: str) -> np.ndarray:
        """``actions`` as float64 ``(N, n_agents, P)``; ``(N, P)`` is taken for one agent."""
        try:
            a = np.asarray(actions, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ParameterError(
                f"{what} must be a numeric array, got {type(actions).__name__}: {e}"
            ) from None
        n_agents, p = len(self.agents), self.action_dim
        if a.ndim == 2 and n_agents == 1:
            a = a[:, None, :]
        if a.ndim != 3 or a.shape[1:] != (n_agents, p):
            want = f"(N, {p})" if n_agents == 1 else f"(N, {n_agents}, {p})"
            raise ParameterError(f"{what} must have shape {want} (values in [-1, 1]), got shape {a.shape}")
        if not np.isfinite(a).all():
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise ParameterError(f"{what} has a non-finite value at index {idx}; expected values in [-1, 1]")
        return a

    def _prefix(self, prefix: Any) -> np.ndarray:
        if prefix is None:
            return np.zeros((0, len(self.agents), self.action_dim))
        if isinstance(prefix, Sequence) and prefix and isinstance(prefix[0], Mapping):
            rows = []
            for k, step in enumerate(prefix):
                missing = [a for a in self.agents if a not in step]
                if missing:
                    raise ParameterError(f"prefix[{k}] has no action for {missing}")
                rows.append([_pad(step[a], self.action_dim) for a in self.agents])
            prefix = rows
        if isinstance(prefix, Sequence) and not len(prefix):
            return np.zeros((0, len(self.agents), self.action_dim))
        return self._check(prefix, "prefix")

    def _values(self, acts: np.ndarray) -> dict[str, dict[str, float]]:
        # As the environment maps them: the free entries as Python floats, clipped.
        task = self._task
        return {
            t.name: task.values(i, acts[i, : self._n_free[i]].tolist())
            for i, t in enumerate(self.scenario.tracks)
        }

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, actions: Any, step: int | None = None, prefix: Any = None) -> Evaluation:
        """Rewards of each candidate action for one step.

        Args:
            actions: ``(N, n_agents, P)`` normalised actions (``(N, P)`` for a
                one-track scenario), as the environment takes them: values outside
                [-1, 1] are clipped, padding entries are ignored.
            step: The episode step the candidates play (default: ``len(prefix)``).
            prefix: The actions of the earlier steps, ``(step, n_agents, P)`` (or a
                list of ``{agent: action}`` dicts, as in a search result); ``None``
                for the first step.

        Returns:
            Evaluation: rewards bit-identical to stepping the environment with
            ``prefix`` then each candidate.

        Raises:
            ParameterError: on a wrong shape or a non-finite value.
            ValueError: if ``step`` does not match the prefix's length.
            EngineError: if a prefix step fails in the engine.
        """
        acts = self._check(actions, "actions")
        pre = self._prefix(prefix)
        if step is None:
            step = len(pre)
        if step != len(pre):
            raise ValueError(
                f"step {step} needs the actions of the {step} earlier steps; prefix has {len(pre)}"
            )
        if self.workers > 1 and len(acts) >= 2 * self.workers:
            return self._evaluate_pool(acts, pre)
        return self._evaluate_here(acts, pre)

    def evaluate_sequence(self, actions: Any, prefix: Any = None) -> Evaluation:
        """Each agent's reward for each step of candidate sequences that follow ``prefix``.

        For looking ahead: a choice at one step (a hit that rings on) also changes the
        next step's reward, which :meth:`evaluate` of one step cannot see.

        Args:
            actions: ``(N, L, n_agents, P)`` (``(N, L, P)`` for one agent): ``N``
                candidate sequences of ``L`` steps, played after ``prefix``.
            prefix: As for :meth:`evaluate`.

        Returns:
            Evaluation: with a step axis -- ``agents`` ``(N, L, n_agents)``, ``mix``
            ``(N, L)``, ``tracks`` ``(N, L, n_tracks)``, ``rewards`` ``(N, L)`` --
            what the environment pays at each of the ``L`` steps (bit-identical); a
            sequence whose render fails in the engine is paid 0.0 from the failing
            step on (its first failure is in ``errors``).
        """
        a = np.asarray(actions, dtype=np.float64)
        if a.ndim == 3 and len(self.agents) == 1:
            a = a[:, :, None, :]
        if a.ndim != 4:
            raise ParameterError(f"actions must have shape (N, L, n_agents, P), got shape {a.shape}")
        n, steps = a.shape[:2]
        flat = self._check(a.reshape(n * steps, *a.shape[2:]), "actions").reshape(a.shape)
        pre = self._prefix(prefix)
        state = self._state_after(pre)
        task, session = self._task, self._session
        out = np.zeros((n, steps, len(self.agents)))
        mix = np.zeros((n, steps))
        tracks = np.full((n, steps, len(self.scenario.tracks)), np.nan)
        errors: dict[int, str] = {}
        for j in range(n):
            session.restore(state)
            for i in range(steps):
                k = task.step_index(len(pre) + i)
                try:
                    audio = session.step(k, self._values(flat[j, i]))
                except EngineError as e:
                    errors[j] = str(e)
                    state = self._state_after(pre)  # the engine may have been rebuilt
                    break
                r = task.reward(k, task.analyse(audio))
                out[j, i], mix[j, i], tracks[j, i] = r.agents, r.mix, r.tracks
        return Evaluation(out, mix, tracks, errors)

    def _evaluate_here(self, acts: np.ndarray, pre: np.ndarray) -> Evaluation:
        n = len(acts)
        k_tracks = len(self.scenario.tracks)
        agents = np.zeros((n, len(self.agents)))
        mix = np.zeros(n)
        tracks = np.full((n, k_tracks), np.nan)
        errors: dict[int, str] = {}
        state = self._state_after(pre)
        task, session = self._task, self._session
        k = task.step_index(len(pre))
        chunk = self.chunk
        twins = self._twins(pre)
        for c0 in range(0, n, chunk):
            idx = list(range(c0, min(n, c0 + chunk)))
            audio: list[np.ndarray] = []
            ok: list[int] = []
            pos = 0
            while twins is not None and pos + 1 < len(idx):
                # two candidates in one engine, one on each channel (bit-identical stems)
                tw, tw_state, name, twin_name = twins
                a, b = idx[pos], idx[pos + 1]
                tw.restore(tw_state)
                try:
                    pair = tw.step(
                        k, {name: self._values(acts[a])[name], twin_name: self._values(acts[b])[name]}
                    )
                except EngineError:  # render these two alone, to report the right one
                    twins = self._twin = None
                    break
                audio += [pair[[0, 0]], pair[[1, 1]]]  # the stem, and the mix (the stem again)
                ok += [a, b]
                pos += 2
            for j in idx[pos:]:
                session.restore(state)
                try:
                    audio.append(np.array(session.step(k, self._values(acts[j]))))
                except EngineError as e:
                    errors[j] = str(e)
                    state = self._state_after(pre)  # the engine may have been rebuilt
                    continue
                ok.append(j)
            if not ok:
                continue
            r = self._score(k, np.stack(audio))
            for row, j in enumerate(ok):
                agents[j] = blend(float(r[row, -1]), r[row, :-1], task.weight)
                mix[j] = r[row, -1]
                tracks[j] = r[row, :-1]
        return Evaluation(agents, mix, tracks, errors)

    def _score_one_by_one(self, k: int, audio: np.ndarray) -> np.ndarray:
        task = self._task
        out = np.empty((len(audio), audio.shape[1]))
        for j, a in enumerate(audio):
            a.flags.writeable = False
            r = task.reward(k, task.analyse(a))
            out[j, :-1] = r.tracks
            out[j, -1] = r.mix
        return out

    def _score(self, k: int, audio: np.ndarray) -> np.ndarray:
        """Rows' rewards ``(N, k + 1)`` of a chunk of rendered candidates, in one analysis.

        The first chunk of two or more candidates is also scored one candidate at a
        time, as the task does it. If the batched rewards differ in any bit, the
        distances are taken candidate by candidate again, and if they still differ,
        batching is switched off (a criterion whose arithmetic depends on the batch
        size or on where a row sits in memory, e.g. a matrix product that BLAS blocks
        differently, or a SIMD reduction that depends on alignment).
        """
        if not self.batch_features:
            return self._score_one_by_one(k, audio)
        batched = score_batch(self._task, k, audio, self._tiled_targets if self.batch_distances else None)
        if not self._batch_checked and len(audio) >= 2:
            self._batch_checked = True
            exact = self._score_one_by_one(k, audio)
            if np.array_equal(batched, exact, equal_nan=True):
                return batched
            if self.batch_distances:
                self.batch_distances = False
                batched = score_batch(self._task, k, audio)
                if np.array_equal(batched, exact, equal_nan=True):
                    return batched
            self.batch_features = False
            return exact
        return batched

    def _tiled_targets(self, k: int, group: int, n: int, ft: Any) -> Any:
        """Group ``group``'s target features of step ``k``, repeated for ``n`` candidates."""
        key = (k, group, n)
        out = self._tiled.get(key)
        if out is None:
            if len(self._tiled) > 256:
                self._tiled.clear()
            self._tiled[key] = out = _tile(ft, n)
        return out

    def _twins(self, pre: np.ndarray) -> tuple[RenderSession, SessionState, str, str] | None:
        """A session playing two candidates of a one-track scenario at once, after ``pre``.

        Its engine plays the track on the left channel and a copy of it (renamed) on
        the right, as :class:`~raveforce_mae.core.RenderSession` packs two tracks:
        one engine's per-block overhead and one memory restore for two candidates,
        and each channel bit for bit what the track's own engine plays. ``None`` for
        scenarios of several tracks (their session packs tracks already) or when
        the track cannot be packed with its copy.
        """
        if not self.pack_candidates or len(self.scenario.tracks) != 1:
            return None
        key = pre.tobytes()
        if self._twin is not None and self._twin_key == key and self._twin[0].valid(self._twin[1]):
            return self._twin
        track = self.scenario.tracks[0]
        twin = _renamed(track, f"{track.name}2")
        if packing_refusal(track, twin) is not None:
            self.pack_candidates = False
            return None
        session = (
            self._twin[0] if self._twin is not None else RenderSession(_Pair(self.scenario, (track, twin)))
        )
        session.reset()
        for i, acts in enumerate(pre):
            v = self._values(acts)[track.name]
            session.step(self._task.step_index(i), {track.name: v, twin.name: v})
        self._twin = (session, session.snapshot(), track.name, twin.name)
        self._twin_key = key
        return self._twin

    def _state_after(self, pre: np.ndarray) -> SessionState:
        """The session's state after the prefix (replayed once per distinct prefix)."""
        key = pre.tobytes()
        if key == self._prefix_key and self._session.valid(self._prefix_state):
            return self._prefix_state
        session = self._session
        if session.valid(self._fresh):
            session.restore(self._fresh)
        else:  # an engine was rebuilt after a candidate broke it
            session.reset()
            self._fresh = session.snapshot()
        for i, acts in enumerate(pre):
            session.step(self._task.step_index(i), self._values(acts))
        self._prefix_state = session.snapshot()
        self._prefix_key = key
        return self._prefix_state

    # -- worker processes -----------------------------------------------------------------------

    def _evaluate_pool(self, acts: np.ndarray, pre: np.ndarray) -> Evaluation:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # no engine state is forked
            self._pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.scenario,))
        chunks = np.array_split(np.arange(len(acts)), self.workers * 2)
        parts = self._pool.map(_work, [(acts[c], pre) for c in chunks if len(c)])
        errors: dict[int, str] = {}
        off = 0
        for c, p in zip([c for c in chunks if len(c)], parts, strict=True):
            errors.update({off + j: m for j, m in p.errors.items()})
            off += len(c)
        return Evaluation(
            np.concatenate([p.agents for p in parts]),
            np.concatenate([p.mix for p in parts]),
            np.concatenate([p.tracks for p in parts]),
            errors,
        )

    def close(self) -> None:
        """Stop the worker processes (if any)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an Evaluator holds engines and processes; pass its scenario instead")


def _renamed(track: Track, name: str) -> Track:
    """``track`` under another name: its audible chain and its private refs renamed."""
    old_ref, new_ref = f"~{track.name}__", f"~{name}__"

    def seg(x: str | tuple[str]) -> str | tuple[str]:
        return x.replace(old_ref, new_ref) if isinstance(x, str) else x

    lines = tuple(
        CodeLine(
            name if ln.lhs == track.name else ln.lhs.replace(old_ref, new_ref),
            Template(tuple(seg(x) for x in ln.body.segments)),
            ln.key,
        )
        for ln in track.own_lines
    )
    return dataclasses.replace(track, name=name, own_lines=lines)


@dataclass(frozen=True)
class _Pair:
    """A scenario's timing and samples with other tracks: what a render session plays."""

    base: Scenario
    tracks: tuple[Track, ...]

    @property
    def sample_rate(self) -> int:  # noqa: D102
        return self.base.sample_rate

    @property
    def bpm(self) -> float:  # noqa: D102
        return self.base.bpm

    @property
    def seed(self) -> int:  # noqa: D102
        return self.base.seed

    @property
    def samples(self) -> Mapping[str, tuple[np.ndarray, int]]:  # noqa: D102
        return self.base.samples

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:  # noqa: D102
        return self.base.bounds

    @property
    def total_frames(self) -> int:  # noqa: D102
        return self.base.total_frames

    @property
    def n_steps(self) -> int:  # noqa: D102
        return self.base.n_steps


def _pad(action: Any, p: int) -> np.ndarray:
    a = np.asarray(action, dtype=np.float64).ravel()
    out = np.zeros(p)
    out[: min(p, len(a))] = a[:p]
    return out


_WORKER: Evaluator | None = None


def _init_worker(scenario: Scenario) -> None:
    global _WORKER  # noqa: PLW0603 - one evaluator per worker process, built once
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # one process per core: BLAS threads would compete
    except ImportError:  # pragma: no cover
        pass
    # likewise the render sessions: one engine at a time in each worker
    os.environ[RENDER_THREADS_VAR] = "1"
    _WORKER = Evaluator(scenario, workers=1)


def _work(job: tuple[np.ndarray, np.ndarray]) -> Evaluation:
    assert _WORKER is not None
    acts, pre = job
    return _WORKER._evaluate_here(acts, pre)


class _BatchAnalysis(Analysis):
    """The analyses of ``N`` candidates' audio ``(N, rows, n)`` as one, rows stacked.

    Row ``c * rows + r`` is candidate ``c``'s row ``r``. With ``mix_is_sum`` each
    candidate's last row is the sum of its others, and its spectrum is the sum of
    theirs, added in the same order as :class:`~raveforce_mae.analysis.Analysis`
    does for one candidate, so every number equals the one-candidate analysis.
    """

    def __init__(
        self, audio: np.ndarray, sample_rate: int, *, mix_is_sum: bool, mix_is_stem: bool = False
    ) -> None:
        self._audio3 = audio
        self._per = audio.shape[1]
        super().__init__(audio.reshape(-1, audio.shape[2]), sample_rate, mix_is_sum=False)
        self._grouped = mix_is_sum and self._per >= 2
        # one track: the mix row is a copy of the stem, so its spectrum is the stem's
        self._dup = mix_is_stem and self._per == 2

    def spectrum(self, n_fft: int, hop: int) -> np.ndarray:  # noqa: D102 - as Analysis.spectrum
        if self._dup:
            key = ("dstft", n_fft, hop)
            out = self._cache.get(key)
            if out is None:
                stem = np.ascontiguousarray(self._audio3[:, 0])
                spec = Analysis(stem, self.sample_rate, mix_is_sum=False).spectrum(n_fft, hop)
                out = np.repeat(spec, 2, axis=0)
                self._cache[key] = out
            return out
        if not self._grouped:
            return super().spectrum(n_fft, hop)
        key = ("gstft", n_fft, hop)
        out = self._cache.get(key)
        if out is None:
            n, per = self._audio3.shape[0], self._per
            stems = np.ascontiguousarray(self._audio3[:, :-1]).reshape(n * (per - 1), -1)
            spec = Analysis(stems, self.sample_rate, mix_is_sum=False).spectrum(n_fft, hop)
            spec4 = spec.reshape((n, per - 1) + spec.shape[1:])
            full = np.empty((n, per) + spec.shape[1:], dtype=spec.dtype)
            full[:, :-1] = spec4
            # stems summed in order, one candidate at a time, as Analysis does
            for c in range(n):
                np.sum(spec4[c], axis=0, out=full[c, -1])
            self._cache[key] = out = full.reshape((n * per,) + spec.shape[1:])
        return out

    def subset(self, rows: tuple[int, ...]) -> Analysis:  # noqa: D102 - per candidate's rows
        key = ("rows", rows)
        out = self._cache.get(key)
        if out is None:
            sub = np.ascontiguousarray(self._audio3[:, list(rows)])
            self._cache[key] = out = _BatchAnalysis(sub, self.sample_rate, mix_is_sum=False)
        return out


def _rows(fx: Any, a: int, b: int) -> Any:
    """Rows ``a:b`` of batched features (an array or a tuple of arrays, rows first), as copies.

    Copies, so that each candidate's distance reads memory laid out as the
    one-candidate path lays it out (numpy's SIMD reductions depend on alignment).
    """
    if isinstance(fx, tuple):
        return tuple(_rows(f, a, b) for f in fx)
    return fx[a:b].copy()


def _tile(ft: Any, n: int) -> Any:
    """Target features (an array or a tuple of arrays, rows first) repeated ``n`` times along rows."""
    if isinstance(ft, tuple):
        return tuple(_tile(f, n) for f in ft)
    return np.concatenate([ft] * n)


def score_batch(
    task: Task,
    k: int,
    audio: np.ndarray,
    tiled: Callable[[int, int, int, Any], Any] | None = None,
) -> np.ndarray:
    """Each row's reward for ``N`` candidates' audio ``(N, rows, n)`` of step ``k``: ``(N, rows)``.

    The batched form of :meth:`~raveforce_mae.rewards.StepScorer.score_analysis`: each
    criterion term analyses all candidates at once (the FFTs, the costly part). The
    distances to the target are then taken per candidate, exactly as for one, or,
    given ``tiled`` (``(k, group, N, target features) -> the features repeated N
    times``), for all candidates in one call.
    """
    scorer = task._scorer  # noqa: SLF001 - the task's own prepared targets
    n, rows, _ = audio.shape
    an = _BatchAnalysis(
        audio, task.sample_rate, mix_is_sum=task.n_tracks >= 2, mix_is_stem=task.n_tracks == 1
    )
    acc = np.zeros((n, scorer.n_rows))
    groups = zip(scorer._groups, scorer._prepared[k], strict=True)  # noqa: SLF001
    for g, ((term, rows_key, idx, w, take), ft) in enumerate(groups):
        fx = term.features(an if rows_key is None else an.subset(rows_key))
        m = rows if rows_key is None else len(rows_key)
        if tiled is not None:
            r = term.rewards(fx, tiled(k, g, n, ft)).reshape(n, m)
            acc[:, idx] += w * r[:, take]
            continue
        for c in range(n):
            acc[c, idx] += w * term.rewards(_rows(fx, c * m, (c + 1) * m), ft)[take]
    return acc * scorer._inv_weight_sum  # noqa: SLF001
