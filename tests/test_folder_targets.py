from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from raveforce_mae.errors import ScenarioError
from raveforce_mae.folder_targets import FolderTargets

SR = 44100


def _tone(freq: float, seconds: float = 0.25, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _bucket(name: str, k: int = 5) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % k


@pytest.fixture
def loops(tmp_path):
    root = tmp_path / "loops"
    for i in range(12):
        d = root / f"{i:03d}_loop"
        d.mkdir(parents=True)
        bass, kick = _tone(55 * (1 + i % 3)), _tone(50 + i, amp=0.3)
        if i % 3 == 0:  # stems only
            sf.write(d / "bass.wav", bass, SR)
            sf.write(d / "kick.wav", kick, SR)
        elif i % 3 == 1:  # mix only
            sf.write(d / "mix.wav", bass + kick, SR)
        else:  # mix and one stem
            sf.write(d / "mix.wav", bass + kick, SR)
            sf.write(d / "bass.wav", bass, SR)
        (d / "notes.txt").write_text("ignored")
    return root


def test_split_rule_and_items(loops):
    ft = FolderTargets(loops, tracks=["bass", "kick"], sample_rate=SR)
    names = sorted(p.name for p in loops.iterdir())
    test, train = ft.split("test"), ft.split("train")
    assert test.names == [n for n in names if _bucket(n) == 0]
    assert train.names == [n for n in names if _bucket(n) != 0]
    assert len(test) >= 1 and len(train) >= 1 and len(test) + len(train) == 12
    for split in (test, train):
        for k, name in enumerate(split.names):
            item = split[k]
            assert set(item) == {"mix", "bass", "kick"}
            i = int(name[:3])
            if i % 3 == 0:
                assert (
                    item["mix"] is None
                    and item["bass"].name == "bass.wav"
                    and item["kick"].name == "kick.wav"
                )
            elif i % 3 == 1:
                assert item["mix"].name == "mix.wav" and item["bass"] is None and item["kick"] is None
            else:
                assert item["mix"].parent.name == name and item["bass"] is not None and item["kick"] is None
    # the files are the ones written: the bass stem of loop 000 is a 55 Hz tone
    first_stems = next(train[k] for k, n in enumerate(train.names) if int(n[:3]) % 3 == 0)
    x, sr = sf.read(first_stems["bass"])
    spec = np.abs(np.fft.rfft(x))
    assert (
        sr == SR
        and abs(np.argmax(spec) * SR / len(x) - 55 * (1 + int(first_stems["bass"].parent.name[:3]) % 3)) < 5
    )
    assert ft.validate() == 4 * 2 + 4 * 1 + 4 * 2
    with pytest.raises(IndexError, match="out of range"):
        train[len(train)]
    assert train[-1] == train[len(train) - 1]


def test_split_is_stable_when_loops_are_added(loops):
    before = FolderTargets(loops).split("test").names
    (loops / "zzz_new").mkdir()
    sf.write(loops / "zzz_new" / "mix.wav", _tone(220), SR)
    after = FolderTargets(loops).split("test").names
    assert set(before) <= set(after)
    # tracks default to the stem names found
    assert FolderTargets(loops).tracks == ("bass", "kick")


def test_presplit_folders(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            d = tmp_path / split / f"l{i}"
            d.mkdir(parents=True)
            sf.write(d / "mix.wav", _tone(110), SR)
    ft = FolderTargets(tmp_path)
    assert ft.presplit and len(ft.split("train")) == 3 and len(ft.split("test")) == 2


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda d: sf.write(d / "mix.wav", _tone(110), 22050),
            r"mix\.wav: sample rate 22050 Hz, expected 44100 Hz",
        ),
        (
            lambda d: sf.write(d / "mix.wav", _tone(110, amp=1.5), SR, subtype="FLOAT"),
            r"mix\.wav: peak 1\.5 exceeds the amplitude bound 1",
        ),
        (
            lambda d: sf.write(
                d / "mix.wav",
                np.where(np.arange(SR // 4) == 100, np.nan, _tone(110)).astype(np.float32),
                SR,
                subtype="FLOAT",
            ),
            r"mix\.wav: holds NaN or infinite samples",
        ),
        (lambda d: sf.write(d / "mix.wav", np.zeros(1000, np.float32), SR), r"mix\.wav: the file is silent"),
        (
            lambda d: sf.write(d / "mix.wav", np.zeros((1000, 3), np.float32) + 0.1, SR),
            r"mix\.wav: 3 channels, expected mono or stereo",
        ),
        (lambda d: (d / "mix.wav").write_bytes(b"RIFF nonsense"), r"mix\.wav: cannot read as audio"),
    ],
)
def test_bad_files_are_named_on_use(tmp_path, make, match):
    good = tmp_path / "a"
    good.mkdir()
    sf.write(good / "mix.wav", _tone(110), SR)
    bad = tmp_path / "b"
    bad.mkdir()
    make(bad)
    ft = FolderTargets(tmp_path, sample_rate=SR)  # the layout is fine: files are read on use
    with pytest.raises(ScenarioError, match=match):
        ft.validate()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda d: sf.write(d / "snare.wav", _tone(200), SR),
            r"snare\.wav: expected 'mix' or a track name \(\['bass', 'kick'\]\), got 'snare'",
        ),
        (
            lambda d: sf.write(d / "bass.wav", _tone(55), SR),
            r"b: no mix\.wav, so a stem for every track is needed .* missing 'kick'",
        ),
        (lambda d: (d / "readme.txt").write_text("x"), r"b: no audio file"),
        (
            lambda d: (sf.write(d / "mix.wav", _tone(55), SR), sf.write(d / "mix.flac", _tone(55), SR)),
            r"a second file for 'mix'",
        ),
    ],
)
def test_bad_layouts_fail_at_construction(tmp_path, make, match):
    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "mix.wav", _tone(110), SR)
    (tmp_path / "b").mkdir()
    make(tmp_path / "b")
    with pytest.raises(ScenarioError, match=match):
        FolderTargets(tmp_path, tracks=["bass", "kick"])


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(ScenarioError, match="expected a folder"):
        FolderTargets(tmp_path / "nope")
    with pytest.raises(ScenarioError, match="no target subfolders"):
        FolderTargets(tmp_path)
    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "mix.wav", _tone(110), SR)
    with pytest.raises(ValueError, match="split must be"):
        FolderTargets(tmp_path).split("dev")


def test_empty_split_index_error(tmp_path):
    # one loop: it lands in exactly one split, the other is empty and says so
    (tmp_path / "only").mkdir()
    sf.write(tmp_path / "only" / "mix.wav", _tone(110), SR)
    ft = FolderTargets(tmp_path)
    empty = "train" if _bucket("only") == 0 else "test"
    with pytest.raises(IndexError, match=f"the {empty} split is empty"):
        ft.split(empty)[0]
