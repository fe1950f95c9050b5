"""``vidsparse corrupt``: mirrored output trees, manifest, resumability, failures, image formats,
and the preview grid."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import corruptions
from vidsparse.cli import main  # noqa: E402
from vidsparse.data.video.splits import ucf101_split  # noqa: E402
from vidsparse.data.video.reader import read_video  # noqa: E402
from vidsparse.data.video.writer import write_video

CLASSES = ("Juggle", "Surf")
VIDEOS = ("Juggle/v_Juggle_g01_c01.avi", "Juggle/v_Juggle_g02_c01.avi", "Surf/v_Surf_g01_c01.webm")
BROKEN = "Surf/v_Surf_g02_c01.avi"
RUN = ["--corruptions", "gaussian_noise,jumble", "--severities", "1,5", "--workers", "0", "--lossless"]


def tiny_video(seed: int, frames: int = 10, height: int = 24, width: int = 32) -> torch.Tensor:
    """uint8 [T, H, W, 3]: a smooth random background with a bright square moving right."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=gen), size=(height, width), mode="bilinear")
    video = (base[0].permute(1, 2, 0) * 200).to(torch.uint8).repeat(frames, 1, 1, 1)
    for t in range(frames):
        video[t, 8:14, 2 * t : 2 * t + 6] = 255
    return video


@pytest.fixture(scope="module")
def ucf_tree(tmp_path_factory) -> Path:
    """UCF101 layout: two tiny .avi videos, a .webm, one zero-byte 'video', and the split files."""
    root = tmp_path_factory.mktemp("ucf")
    for seed, rel in enumerate(VIDEOS):
        webm = rel.endswith(".webm")
        write_video(root / rel, tiny_video(seed), 10, codec="libvpx-vp9" if webm else "libx264",
                    options={"crf": "10", "b": "0"} if webm else {"crf": "10"})
    (root / BROKEN).write_bytes(b"")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    (lists / "trainlist01.txt").write_text(f"{VIDEOS[0]} 1\n{BROKEN} 2\n")
    (lists / "testlist01.txt").write_text(f"{VIDEOS[1]}\n{VIDEOS[2]}\n")
    return root


def manifest_rows(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return {row["output"]: row for row in rows}


@pytest.fixture(scope="module")
def corrupted(ucf_tree, tmp_path_factory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("corrupted")
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(out), *RUN])
    return out, code, buffer.getvalue()


def test_output_tree_mirrors_the_dataset(ucf_tree, corrupted):
    out, code, stdout = corrupted
    assert code == 0 and "12 outputs written" in stdout and "4 failed" in stdout
    for name in ("gaussian_noise", "jumble"):
        for severity in (1, 5):
            folder = out / name / str(severity)
            written = [p for p in folder.rglob("*") if p.suffix in (".avi", ".webm")]
            assert sorted(p.relative_to(folder).as_posix() for p in written) == sorted(VIDEOS)
            for split in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
                copied, original = folder / "ucfTrainTestlist" / split, ucf_tree / "ucfTrainTestlist" / split
                assert copied.read_text() == original.read_text()
            test = ucf101_split(folder, 1, "test")  # the corrupted set loads with the same reader
            assert [p.relative_to(folder).as_posix() for p, _ in test.items] == list(VIDEOS[1:]) and not test.missing


def test_outputs_are_the_corruption_stored_losslessly(ucf_tree, corrupted):
    out, _, _ = corrupted
    rows = manifest_rows(out)
    assert len(rows) == 12
    for rel in VIDEOS:
        source, fps = read_video(ucf_tree / rel)
        for name in ("gaussian_noise", "jumble"):
            row = rows[f"{name}/5/{rel}"]
            assert row["source"] == rel and row["severity"] == 5 and row["variant"] == "fixed"
            assert row["preset"] == "ucf101-p" and row["seed"] == 0 and row["parameters"] is not None
            stored, stored_fps = read_video(out / row["output"])
            expected = corruptions.apply(source.permute(0, 3, 1, 2), name, 5, seed=0, preset="ucf101-p",
                                         video_id=rel).permute(0, 2, 3, 1)
            assert stored_fps == fps
            assert torch.equal(stored, expected)  # stored losslessly: exactly what apply() returns
            import hashlib

            assert row["sha256"] == hashlib.sha256((out / row["output"]).read_bytes()).hexdigest()


def test_broken_video_is_counted_not_fatal(corrupted):
    out, _, _ = corrupted
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 4 and {f["source"] for f in failures} == {BROKEN}
    assert all("empty" in f["error"] for f in failures)
    assert not any(BROKEN in output for output in manifest_rows(out))


def test_rerun_skips_verified_outputs_and_redoes_missing_ones(ucf_tree, corrupted, capsys):
    out, _, _ = corrupted
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.suffix in (".avi", ".webm")}
    assert main(["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(out), *RUN]) == 0
    assert "0 outputs written, 12 already done" in capsys.readouterr().out
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.suffix in (".avi", ".webm")}
    victim = out / "jumble" / "5" / VIDEOS[2]
    victim.unlink()
    tampered = out / "gaussian_noise" / "1" / VIDEOS[0]
    tampered.write_bytes(tampered.read_bytes()[:-10])  # no longer matches its checksum
    (out / "jumble" / "1" / "Juggle" / ".v_Juggle_g01_c01.tmp-999.avi").write_bytes(b"half")  # a crash leftover
    assert main(["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(out), *RUN]) == 0
    assert "2 outputs written, 10 already done" in capsys.readouterr().out
    assert victim.is_file() and len(manifest_rows(out)) == 12
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_worker_processes_write_identical_outputs(ucf_tree, corrupted, tmp_path):
    out, _, _ = corrupted
    args = ["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(tmp_path),
            "--corruptions", "jumble", "--severities", "5", "--workers", "2", "--lossless"]
    assert main(args) == 0
    parallel, serial = manifest_rows(tmp_path), manifest_rows(out)
    assert len(parallel) == 3
    for key in parallel:  # same frames; Matroska/WebM headers carry random UIDs, so compare content
        assert torch.equal(read_video(tmp_path / key)[0], read_video(out / key)[0])
        if key.endswith(".avi"):
            assert parallel[key]["sha256"] == serial[key]["sha256"]


def test_cifar_batch_becomes_cifar_c_arrays(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 3072), dtype=np.uint8)
    batch_dir = tmp_path / "data" / "cifar-10-batches-py"
    batch_dir.mkdir(parents=True)
    with open(batch_dir / "test_batch", "wb") as handle:
        pickle.dump({b"data": images, b"labels": [3, 1, 4, 1, 5, 9]}, handle)
    out = tmp_path / "CIFAR-10-C"
    args = ["corrupt", "--dataset", "cifar10", "--data-root", str(tmp_path / "data"), "--out", str(out),
            "--corruptions", "gaussian_noise,contrast,frost"]
    assert main(args) == 0
    clean = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    for name in ("gaussian_noise", "contrast", "frost"):
        array = np.load(out / f"{name}.npy")
        assert array.dtype == np.uint8 and array.shape == (30, 32, 32, 3)
        damage = [np.abs(array[6 * k : 6 * k + 6].astype(int) - clean).mean() for k in range(5)]
        assert min(damage) > 1
        if name != "frost":  # frost's (image, frost) weights are not monotone in pixel change
            assert all(a < b for a, b in zip(damage, damage[1:])), damage  # severities 1..5 stacked in order
    assert np.load(out / "labels.npy").tolist() == [3, 1, 4, 1, 5, 9] * 5
    # image i at severity s sits at row (s - 1) * N + i, corrupted alone and seeded by its index,
    # exactly as the on-the-fly evaluation corrupts it
    expected = corruptions.apply(torch.from_numpy(clean[2]).permute(2, 0, 1), "gaussian_noise", 3, seed=0,
                                 preset="cifar-c", video_id="2")
    assert np.array_equal(np.load(out / "gaussian_noise.npy")[2 * 6 + 2], expected.permute(1, 2, 0).numpy())
    row = manifest_rows(out)["contrast.npy"]
    assert row["severity"] == [1, 2, 3, 4, 5] and row["preset"] == "cifar-c" and len(row["parameters"]) == 5
    assert manifest_rows(out)["frost.npy"]["frost_source"]
    assert main(args) == 0 and len(manifest_rows(out)) == 3  # resumed: nothing redone


def test_image_folders_become_jpeg_trees(tmp_path):
    from PIL import Image

    for cls in ("n01", "n02"):
        (tmp_path / "tiny" / "val" / cls).mkdir(parents=True)
        image = Image.fromarray(tiny_video(len(cls), 1, 64, 64)[0].numpy())
        image.save(tmp_path / "tiny" / "val" / cls / f"{cls}_0.png")
    out = tmp_path / "Tiny-C"
    args = ["corrupt", "--dataset", "tinyimagenet", "--data-root", str(tmp_path / "tiny"), "--out", str(out),
            "--corruptions", "fog", "--severities", "2"]
    assert main(args) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.JPEG"))
    assert written == ["fog/2/n01/n01_0.JPEG", "fog/2/n02/n02_0.JPEG"]
    with Image.open(out / written[0]) as image:
        assert image.format == "JPEG" and image.size == (64, 64)
    assert manifest_rows(out)["fog/2/n01"]["preset"] == "tinyimagenet-c"


def test_preview_writes_a_labelled_grid(ucf_tree, tmp_path):
    from PIL import Image

    grid = tmp_path / "grid.png"
    args = ["corrupt", "--preview", str(ucf_tree / VIDEOS[0]), "--out", str(grid),
            "--corruptions", "gaussian_noise,jumble,h264_crf"]
    assert main(args) == 0
    with Image.open(grid) as image:
        image.verify()
    with Image.open(grid) as image:
        assert image.format == "PNG" and image.width > 6 * 24 and image.height > 3 * 24
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10  # frames were drawn, not a blank canvas
    strips = tmp_path / "grid-over-time.png"  # jumble is temporal: shown as frames over time
    with Image.open(strips) as image:
        film = np.asarray(image.convert("RGB")).astype(int)
    with Image.open(grid) as image:
        assert image.height < film.shape[0]  # the grid holds 2 rows, the strips 6 lines for jumble
    assert film.shape[1] > 230 + 4 * 54 and film[22:, 230:].std() > 10


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--corruptions", "gausian_noise"], "gausian_noise"),
        (["--severities", "0-7"], "--severities"),
        (["--preset", "kinetics-p"], "kinetics-p"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(ucf_tree, tmp_path, capsys, extra, fragment):
    args = ["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(tmp_path / "o"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_missing_data_root_is_a_user_error(tmp_path, capsys):
    assert main(["corrupt", "--dataset", "hmdb51", "--out", str(tmp_path)]) == 2
    assert "--data-root" in capsys.readouterr().err


def test_shards_merge_their_failures_in_the_job_order(ucf_tree, tmp_path, capsys):
    """An undecodable video fails in its shard; --merge accepts it as failed, not missing."""
    base = ["corrupt", "--dataset", "ucf101", "--data-root", str(ucf_tree), "--out", str(tmp_path),
            "--corruptions", "jumble", "--severities", "1,5", "--workers", "0"]
    for i in range(2):
        assert main([*base, "--shard", f"{i}/2"]) == 0
    assert (tmp_path / "failures.shard-1-of-2.jsonl").is_file()  # the broken video is the 4th: shard 1
    capsys.readouterr()
    assert main([*base, "--merge"]) == 0
    assert "0 outputs written, 6 already done, 2 failed" in capsys.readouterr().out
    failures = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert [f["output"] for f in failures] == [f"jumble/1/{BROKEN}", f"jumble/5/{BROKEN}"]
    assert [r for r in manifest_rows(tmp_path)] == [f"jumble/{s}/{v}" for v in VIDEOS for s in (1, 5)]
    assert not list(tmp_path.glob("*.shard-*"))
