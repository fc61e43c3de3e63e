"""The targets' random numbers: SplitMix64 keyed by SHA-256, the same on every machine.

A :class:`Stream` depends on nothing but its key (scenario name, split, index): not
on numpy's version, the platform or global state. The algorithm is documented in
``docs/targets.md`` and pinned by tests of exact values. :func:`hash_partition` is the
stable rule that assigns a target, a MIDI file or a folder of loops to a split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["Stream", "hash_partition", "stream_for"]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_DOMAIN = b"raveforce-mae/targets/v1"


# -- the generator ---------------------------------------------------------------------------


def _mix64(z: int) -> int:
    # SplitMix64's output function (Steele, Lea & Flood 2014), as in Java's SplittableRandom.
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _key_bytes(parts: Sequence[str | int]) -> bytes:
    out = [_DOMAIN]
    for p in parts:
        if isinstance(p, bool) or not isinstance(p, (str, int)):
            raise TypeError(f"stream key parts must be str or int, got {p!r}")
        # the type is part of the key so that "1" and 1 are different streams
        out.append((b"s:" + p.encode()) if isinstance(p, str) else (b"i:" + str(p).encode()))
    return b"\x00".join(out)


class Stream:
    """A SplitMix64 stream of 64-bit integers, keyed by strings and integers.

    The state is the first 8 bytes (big-endian) of ``SHA-256(key)``, where the key is
    ``b"raveforce-mae/targets/v1"`` followed by each part (``b"s:" + utf-8`` for a
    string, ``b"i:" + decimal`` for an integer), joined with NUL bytes. Each draw adds
    the golden-ratio increment ``0x9E3779B97F4A7C15`` to the state (mod 2**64) and
    returns SplitMix64's mix of it. Pure Python integers: the same on every platform
    and numpy version.

    Args:
        *key: Strings and integers that name the stream, e.g.
            ``("bassline", "train", 7)``.

    Example:
        >>> s = Stream("bassline", "train", 0)
        >>> 0.0 <= s.random() < 1.0
        True
    """

    __slots__ = ("state", "draws")

    def __init__(self, *key: str | int) -> None:
        self.state = int.from_bytes(hashlib.sha256(_key_bytes(key)).digest()[:8], "big")
        self.draws = 0

    def next_u64(self) -> int:
        """The next 64-bit unsigned integer of the stream."""
        self.state = (self.state + _GOLDEN) & _MASK64
        self.draws += 1
        return _mix64(self.state)

    def random(self) -> float:
        """A float in [0, 1): the top 53 bits of one draw, times 2**-53."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        """An integer uniform in ``[0, n)``, without modulo bias.

        Draws whose value falls in the incomplete top block (``u >= 2**64 - 2**64 % n``)
        are rejected and redrawn, so every value has probability exactly ``1/n``.
        """
        if n <= 0:
            raise ValueError(f"below(n) needs n >= 1, got {n}")
        limit = (1 << 64) - (1 << 64) % n
        while True:
            u = self.next_u64()
            if u < limit:
                return u % n

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p`` (one draw, even when ``p`` is 0 or 1)."""
        return self.random() < p


def stream_for(scenario: str, split: str, index: int, *extra: str | int) -> Stream:
    """The stream of target ``index`` of a scenario's ``split`` (``"train"`` or ``"test"``)."""
    return Stream(scenario, split, index, *extra)


def hash_partition(key: bytes, modulus: int) -> int:
    """A stable bucket in ``[0, modulus)`` for some bytes: ``int(SHA-256(key)[:8]) % modulus``.

    Bucket 0 is the test split everywhere in this project (targets, audio folders, MIDI
    folders).
    """
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % modulus
