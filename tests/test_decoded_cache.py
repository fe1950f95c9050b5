"""data.decode_cache_mb: decoded videos served from memory change speed, never results."""

from __future__ import annotations

import os
import random

import pytest
import torch

from tests.conftest import tiny_train_args
from tests.test_hostile_inputs import cut, levels
from vidsparse.cli import main
from vidsparse.data.video import decoded_cache, reader
from vidsparse.data.video.decoded_cache import DecodedVideos, decoded_videos_cached
from vidsparse.data.video.decoding import VideoDecodeError
from vidsparse.data.video.reader import read_clip
from vidsparse.data.video.writer import write_video


def _selects(seed: int, count: int = 6):
    rng = random.Random(seed)
    return [lambda n, k=rng.randrange(3): list(range(k, n, 2))[:4] for _ in range(count)] + [None]


def test_cached_clips_equal_decoded_clips_and_decode_once(tmp_path, write_tiny_video, monkeypatch):
    videos = [write_tiny_video(tmp_path / f"v{i}.mp4", seed=i) for i in range(3)]
    expected = [[read_clip(v, s)[0] for s in _selects(i)] for i, v in enumerate(videos)]
    decodes = []
    real_decode = reader._decode
    monkeypatch.setattr(reader, "_decode", lambda *a: decodes.append(a[0]) or real_decode(*a))
    with decoded_videos_cached(64 << 20) as cache:
        for _ in range(2):  # two "epochs"
            for i, video in enumerate(videos):
                for clip, select in zip(expected[i], _selects(i)):
                    assert torch.equal(read_clip(video, select)[0], clip)
    assert len(decodes) == 3  # each video decoded once, whole
    assert (cache.misses, cache.hits) == (3, 2 * 3 * 7 - 3)
    assert decoded_cache.active() is None  # gone after the block


def test_changed_file_is_decoded_again_and_budget_evicts(tmp_path, write_tiny_video):
    video = write_tiny_video(tmp_path / "v.mp4", seed=0)
    one = read_clip(video, None)[0]
    size = one.numel()
    with decoded_videos_cached(size + 1) as cache:  # room for one video
        read_clip(video, None)
        write_tiny_video(video, seed=5)  # same name, new content
        os.utime(video, ns=(1, 1))  # a different mtime even on a coarse-clock filesystem
        changed = read_clip(video, None)[0]
        assert not torch.equal(changed, one) and cache.misses == 2
        assert len(cache) == 1 and cache.bytes == size  # the stale entry was evicted for the new one
        other = write_tiny_video(tmp_path / "w.mp4", seed=1)
        read_clip(other, None)
        assert len(cache) == 1 and cache.bytes <= cache.max_bytes


def test_video_larger_than_budget_is_read_clip_by_clip(tmp_path, write_tiny_video):
    video = write_tiny_video(tmp_path / "v.mp4")
    cache = DecodedVideos(max_bytes=10)
    picks = []

    def decode(pick):
        picks.append(None if pick is None else pick(12))
        return read_clip(video, pick)

    frames, _ = cache.read(video, None, None, None, decode)
    assert frames.shape[0] == 12 and len(cache) == 0 and cache.bytes == 0
    clip, _ = cache.read(video, lambda n: [0, 2, 4], None, None, decode)
    assert clip.shape[0] == 3 and picks == [list(range(12)), [0, 2, 4]]  # once whole, then only the clip


def test_truncated_file_gives_the_same_clips_cached(tmp_path):
    whole = write_video(tmp_path / "whole.mkv", levels(30), 10, options={"crf": "0", "bf": "0"})
    truncated = cut(whole, tmp_path / "cut.mkv", 0.6)
    selects = [lambda n: [n - 1, n - 2, 0], lambda n: list(range(0, n, 3)), None]
    expected = [read_clip(truncated, s)[0] for s in selects]
    with decoded_videos_cached(64 << 20):
        for select, clip in zip(selects, expected):
            assert torch.equal(read_clip(truncated, select)[0], clip)
        with pytest.raises(VideoDecodeError):  # an index past the end is a skipped sample, not a crash
            read_clip(truncated, lambda n: [n + 5])


def test_missing_file_is_a_decode_error_inside_the_cache(tmp_path):
    with decoded_videos_cached(1 << 20), pytest.raises(VideoDecodeError) as err:
        read_clip(tmp_path / "gone.mp4", None)
    assert err.value.kind == "missing"


def test_zero_budget_and_nested_blocks(tmp_path):
    with decoded_videos_cached(0) as none:
        assert none is None and decoded_cache.active() is None
    with decoded_videos_cached(1 << 20) as outer:
        with decoded_videos_cached(8 << 20) as inner:  # a run inside a sweep keeps the sweep's cache
            assert inner is outer
        assert decoded_cache.active() is outer


def test_training_with_the_cache_is_bit_identical(synthetic_root, tmp_path, capsys):
    outs = []
    for mb in (0, 16):
        out = tmp_path / f"cache{mb}"
        main(tiny_train_args(synthetic_root, out, "--set", f"data.decode_cache_mb={mb}", "--set",
                             "train.deterministic=true"))
        outs.append((out / "metrics.csv").read_text().splitlines())
    columns = outs[0][0].split(",")
    timeless = [[v for c, v in zip(columns, row.split(",")) if c != "time_s"] for row in outs[0][1:]]
    assert timeless == [[v for c, v in zip(columns, row.split(",")) if c != "time_s"] for row in outs[1][1:]]


def test_negative_budget_is_refused(synthetic_root, tmp_path, capsys):
    assert main(tiny_train_args(synthetic_root, tmp_path / "bad", "--set", "data.decode_cache_mb=-1")) != 0
    assert "data.decode_cache_mb=-1 must be >= 0" in capsys.readouterr().err
