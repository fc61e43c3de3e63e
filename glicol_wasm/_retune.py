"""Number-only code changes sent as engine messages instead of a re-parse.

Stepping a performance sends the engine a new code every step, and most steps change
only numbers (``lpf 300 2.0`` becomes ``lpf 420 2.0``). Glicol's ``update`` then
parses the whole code, diffs it against the last one chain by chain, sends every
node whose parameters changed one ``SetToNumber`` message per number parameter, and
reconnects the graph. For a 0.125 s step of a three-track patch, the parse, the diff
and the reconnection take about a third of the step: 1.03 ms with them, 0.69 ms with
messages (``PYTHONPATH=. python benchmarks/engine.py``).

The engine's ``send_msg(chain, node, param, value)`` export sends the same
``SetToNumber`` messages without the parse. This module decides when that gives the
same state as ``update``, and writes the messages:

* Only numbers change: the code with its numbers taken out (its *shape*) is the one
  Glicol last parsed.
* Every changed number is a parameter of a node whose ``SetToNumber`` handler only
  stores the value (:data:`PURE_NODES`, read from the engine's source: oscillator
  frequencies, ``mul``, ``add``, the filters, the envelopes...). ``noise`` (which
  re-seeds), ``delayn``/``delayms``/``apfmsgain`` (which clear their buffers) and
  every node with a pattern, a sequence or a script are left to ``update``.
* A changed node gets a message for each of its number parameters, in order, as
  ``update`` sends them. The reconnection ``update`` does afterwards rebuilds the
  same edges (the chains and references did not change), so skipping it changes
  nothing; the tests check the audio bit for bit against ``update``.

Glicol keeps the last code it parsed (its "base") and diffs the next ``update``
against it, so after messages the base is stale. Before the next ``update``, the
changed nodes are sent back to the base's numbers: because their handlers only
store values, the graph is then exactly what the base says, and the diff is right.

Codes this module does not understand (strings, patterns, point lists, repeated
chain names) are always sent with ``update``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .syntax import code_lines

__all__ = ["PURE_NODES", "Plan", "Tuning", "plan_of", "retune", "skeleton", "split"]

PURE_NODES: dict[str, int] = {
    "sin": 1,
    "saw": 1,
    "squ": 1,
    "tri": 1,
    "mul": 1,
    "add": 1,
    "onepole": 1,
    "imp": 1,
    "speed": 1,
    "sig": 1,
    "constsig": 1,
    "plate": 1,
    "lpf": 2,
    "hpf": 2,
    "rhpf": 2,
    "envperc": 2,
    "adsr": 4,
}
"""Nodes whose number parameters may be set by message, with their parameter counts.

Their ``SetToNumber`` handler (Glicol 0.13, ``rs/synth/src/node``) stores the value,
or a value computed from it alone (``onepole``'s coefficient, ``imp``'s period,
``plate``'s wet and dry gains), and touches no other state.
"""

# Glicol's number grammar: float = [+-]? digits "." digits* (e [+-]? digits)?,
# integer = [+-]? digits not followed by ".". Only whole tokens count: delimited by
# whitespace, ',' or '|' (Glicol's whitespace), ';' or the ends of the code.
_DIGITS = r"([+-]?\d+(?:\.\d*(?:[eE][+-]?\d+)?)?)"
_NUMBER = re.compile(r"(?<![^\s,|;])" + _DIGITS + r"(?![^\s,|;])")
_KEY = re.compile(r"[~_]?[a-z][a-z0-9_]*")
_PARAM_REF = re.compile(r"~?[a-z][a-z0-9_]*")
_SPLIT_TOKENS = re.compile(r"[\s,|]+")
_UNSUPPORTED = re.compile(r"[\"`\[\](){}=]")


_NUMBER_CHARS = b"0123456789+-.eE"


def skeleton(code: str) -> bytes:
    """The code without any character a number can hold: equal for codes of one shape.

    A cheap first test (a byte translation, about 2 us for 1 KB): codes whose
    skeletons differ have different shapes, so a code that changes its structure
    every time costs no pattern matching.
    """
    return code.encode().translate(None, _NUMBER_CHARS)


def split(code: str) -> tuple[str, tuple[str, ...]]:
    """The code's shape (the text between its number tokens) and its number tokens."""
    parts = _NUMBER.split(code)
    return "\x00".join(parts[0::2]), tuple(parts[1::2])


@lru_cache(maxsize=64)
def _shape_pattern(shape: str) -> re.Pattern[str]:
    """A pattern matching exactly the codes of this shape, capturing their numbers.

    Faster than :func:`split` (literal text instead of a search): 10 us instead of
    50 us for a 1 KB patch. It gives the same numbers: every piece of a shape but the
    first and the last starts and ends with a delimiter, so a number between two
    pieces is a whole token, and no piece can hold one.
    """
    return re.compile(_DIGITS.join(re.escape(p) for p in shape.split("\x00")))


@dataclass(frozen=True)
class Plan:
    """Where each number token of one shape sits, for the ones messages may set.

    Attributes:
        node_of: per number token, the index of its node in :attr:`nodes`, or -1 if a
            change of that token needs ``update``.
        nodes: per settable node, ``(message prefix "chain,node,param,", token)`` for
            each of its number parameters, in parameter order.
    """

    node_of: tuple[int, ...]
    nodes: tuple[tuple[tuple[str, int], ...], ...]


@lru_cache(maxsize=64)
def plan_of(shape: str) -> Plan:
    """The :class:`Plan` of a shape (see :func:`split`), cached."""
    pieces = shape.split("\x00")
    n = len(pieces) - 1
    none = Plan((-1,) * n, ())
    # The code again, each number replaced by a token naming its index.
    text = "".join(p + (f" \x01{k} " if k < n else "") for k, p in enumerate(pieces))
    try:
        parsed = code_lines(text)
    except ValueError:
        return none
    lines = [(("~" if ln.ref else "") + ln.name, ln.chain) for ln in parsed]
    if any(_UNSUPPORTED.search(chain) or not _KEY.fullmatch(key) for key, chain in lines):
        return none
    if len({k for k, _ in lines}) != len(lines):
        return none  # a repeated chain name: the last one wins in Glicol
    node_of = [-1] * n
    nodes: list[tuple[tuple[str, int], ...]] = []
    for key, chain in lines:
        for pos, node in enumerate(chain.split(">>")):
            tokens = _SPLIT_TOKENS.split(node.strip())
            name, params = tokens[0], tokens[1:]
            if PURE_NODES.get(name) != len(params):
                continue
            numbers = [(i, int(t[1:])) for i, t in enumerate(params) if t.startswith("\x01")]
            if not numbers or len(numbers) + sum(bool(_PARAM_REF.fullmatch(t)) for t in params) != len(
                params
            ):
                continue
            for _, k in numbers:
                node_of[k] = len(nodes)
            nodes.append(tuple((f"{key},{pos},{i},", k) for i, k in numbers))
    return Plan(tuple(node_of), tuple(nodes))


class Tuning:
    """What the engine's graph plays, against the code Glicol last parsed (its base).

    Immutable. The base is split into shape and numbers only when a later code is
    compared with it, so an engine that never sees a second code pays nothing.
    """

    __slots__ = ("base_code", "_split", "_nums", "_skeleton")

    def __init__(
        self,
        base_code: str,
        split_base: tuple[str, tuple[str, ...]] | None = None,
        nums: tuple[str, ...] | None = None,
    ) -> None:
        self.base_code = base_code
        self._split = split_base
        self._nums = nums
        self._skeleton: bytes | None = None

    @classmethod
    def parsed(cls, code: str) -> Tuning:
        """The tuning right after Glicol parsed ``code``."""
        return cls(code)

    @property
    def shape(self) -> str:
        """The base's shape (see :func:`split`)."""
        return self._base()[0]

    @property
    def base(self) -> tuple[str, ...]:
        """The base's number tokens."""
        return self._base()[1]

    @property
    def nums(self) -> tuple[str, ...]:
        """The number tokens the graph plays (the base's until messages change them)."""
        return self.base if self._nums is None else self._nums

    def _base(self) -> tuple[str, tuple[str, ...]]:
        if self._split is None:
            self._split = split(self.base_code)  # a cache: the value never changes
        return self._split

    def numbers_in(self, code: str) -> tuple[str, ...] | None:
        """The number tokens of ``code`` if it has the base's shape, else ``None``."""
        if self._skeleton is None:
            self._skeleton = skeleton(self.base_code)  # a cache: the value never changes
        if skeleton(code) != self._skeleton:
            return None
        m = _shape_pattern(self.shape).fullmatch(code)
        return None if m is None else m.groups()

    def messages_to(self, nums: tuple[str, ...]) -> str | None:
        """Messages that make the graph play ``nums`` (numbers of the base's shape).

        ``None`` if a number changed that only ``update`` may change.
        """
        return self._messages(self.nums, nums)

    def revert(self) -> str:
        """Messages that make the graph play the base again (before an ``update``)."""
        if self._nums is None:
            return ""
        out = self._messages(self._nums, self.base)
        assert out is not None  # only settable numbers ever differ from the base
        return out

    def played(self, nums: tuple[str, ...]) -> Tuning:
        """The tuning after messages made the graph play ``nums``."""
        out = Tuning(self.base_code, self._base(), nums)
        out._skeleton = self._skeleton
        return out

    def _messages(self, old: tuple[str, ...], new: tuple[str, ...]) -> str | None:
        if old == new:
            return ""
        plan = plan_of(self.shape)
        changed: set[int] = set()
        node_of = plan.node_of
        for k, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                node = node_of[k]
                if node < 0:
                    return None
                changed.add(node)
        return ";".join(prefix + new[k] for node in sorted(changed) for prefix, k in plan.nodes[node])


def retune(tuning: Tuning | None, code: str) -> tuple[str, bool, Tuning]:
    """How to make an engine whose graph is ``tuning`` play ``code``.

    Returns:
        ``(messages, update, tuning after)``: the ``send_msg`` commands to send first,
        whether ``code`` must then go through ``update``, and the new tuning.
    """
    if tuning is None:
        return "", True, Tuning.parsed(code)
    nums = tuning.numbers_in(code)
    if nums is not None:
        messages = tuning.messages_to(nums)
        if messages is not None:
            return messages, False, tuning.played(nums)
    # Glicol diffs an update against the code it last parsed: send the graph back there.
    return tuning.revert(), True, Tuning.parsed(code)
