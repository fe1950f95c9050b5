from pathlib import Path

import pytest
import torch

from vidsparse.data.video.clips import clip_indices, clip_span, random_clip, uniform_clips
from vidsparse.data.video.dataset import ClipSpec, VideoClipDataset, collate_skipping
from vidsparse.data.video.splits import folder_list, hmdb51_split, list_file, ucf101_split
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.errors import UserError


@pytest.fixture
def ucf_tree(tmp_path: Path, write_tiny_video) -> Path:
    """Official UCF101 layout with real mpeg4 .avi files; labels in classInd start at 1."""
    root = tmp_path / "UCF101"
    classes = ["ApplyEyeMakeup", "Basketball"]
    for c in classes:
        for g in (1, 8):
            write_tiny_video(root / c / f"v_{c}_g{g:02d}_c01.avi", codec="mpeg4", frames=10, seed=g)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Basketball\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nBasketball/v_Basketball_g08_c01.avi 2\n")
    (lists / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nBasketball/v_Basketball_g01_c01.avi\n"
        "Basketball/v_Basketball_g02_c01.avi\n")
    return root


def test_ucf101_split_parsing(ucf_tree: Path):
    train = ucf101_split(ucf_tree, 1, "train")
    test = ucf101_split(ucf_tree, 1, "test")
    assert train.classes == ["ApplyEyeMakeup", "Basketball"]
    assert [(p.name, y) for p, y in train.items] == [
        ("v_ApplyEyeMakeup_g08_c01.avi", 0), ("v_Basketball_g08_c01.avi", 1)]
    assert [y for _, y in test.items] == [0, 1]
    assert test.missing == ["Basketball/v_Basketball_g02_c01.avi"]


def test_ucf101_bad_inputs(ucf_tree: Path, tmp_path: Path):
    with pytest.raises(UserError, match="missing split file .*testlist02.txt"):
        ucf101_split(ucf_tree, 2, "test")
    with pytest.raises(UserError, match="splits 1, 2, 3"):
        ucf101_split(ucf_tree, 4, "train")
    with pytest.raises(UserError, match="data root not found"):
        ucf101_split(tmp_path / "nowhere", 1, "train")
    (ucf_tree / "ucfTrainTestlist" / "trainlist01.txt").write_text("Juggling/v_Juggling_g08_c01.avi 3\n")
    with pytest.raises(UserError, match="not in classInd"):
        ucf101_split(ucf_tree, 1, "train")


def test_hmdb51_split_parsing(tmp_path: Path, write_tiny_video):
    root = tmp_path / "hmdb51"
    for c in ("brush_hair", "cartwheel"):
        for name in ("a.avi", "b.avi", "c.mp4"):
            codec = "libx264" if name.endswith(".mp4") else "mpeg4"
            write_tiny_video(root / c / f"{c}_{name}", codec=codec, frames=6)
        (root / f"{c}_test_split1.txt").write_text(f"{c}_a.avi 1 \n{c}_b.avi 2 \n{c}_c.mp4 0 \n")
    train, test = hmdb51_split(root, 1, "train"), hmdb51_split(root, 1, "test")
    assert train.classes == ["brush_hair", "cartwheel"]
    assert [(p.name, y) for p, y in train.items] == [("brush_hair_a.avi", 0), ("cartwheel_a.avi", 1)]
    assert [(p.name, y) for p, y in test.items] == [("brush_hair_b.avi", 0), ("cartwheel_b.avi", 1)]
    with pytest.raises(UserError, match="test_split2"):
        hmdb51_split(root, 2, "train")


def test_folder_and_list_file(tmp_path: Path, write_tiny_video):
    for c in ("a", "b"):
        write_tiny_video(tmp_path / "f" / c / "x.mp4", frames=4)
    listing = folder_list(tmp_path / "f")
    assert listing.classes == ["a", "b"] and [y for _, y in listing.items] == [0, 1]
    (tmp_path / "f" / "c").mkdir()
    with pytest.raises(UserError, match="holds no files"):
        folder_list(tmp_path / "f")
    (tmp_path / "f" / "list.txt").write_text("a/x.mp4 0\nb/x.mp4 1\nb/gone.mp4 1\n")
    parsed = list_file(tmp_path / "f" / "list.txt")
    assert [y for _, y in parsed.items] == [0, 1] and parsed.missing == ["b/gone.mp4"]


def test_clip_indices():
    assert clip_span(8, 2) == 15
    assert clip_indices(20, 3, 4, 2) == [3, 5, 7, 9]
    assert clip_indices(5, 0, 4, 2) == [0, 2, 4, 1]  # short videos loop
    assert uniform_clips(30, 4, 2, 1) == [[11, 13, 15, 17]]  # centred
    assert uniform_clips(30, 4, 2, 3) == [[0, 2, 4, 6], [12, 14, 16, 18], [23, 25, 27, 29]]
    gen = torch.Generator().manual_seed(0)
    starts = {random_clip(30, 4, 2, gen)[0] for _ in range(300)}
    assert starts == set(range(0, 24))  # every start that fits, and nothing past the end


def test_dataset_train_and_multiview_test(ucf_tree: Path):
    items = ucf101_split(ucf_tree, 1, "train").items + [(ucf_tree / "broken.avi", 0)]
    (ucf_tree / "broken.avi").write_bytes(b"\x00" * 100)
    transform = ClipTransform(resize=24, crop=20, mean=(0.5,) * 3, std=(0.25,) * 3)
    train = VideoClipDataset(items, ClipSpec(4, 2), transform, train=True, seed=3)
    clip, label, _ = train[0]
    assert clip.shape == (3, 4, 20, 20) and label == 0
    again, _, _ = train[0]
    assert torch.equal(clip, again)  # same (seed, index) -> same clip
    train.set_epoch_seed(4)
    assert not torch.equal(clip, train[0][0])
    assert train[2] is None  # undecodable: skipped, not fatal
    clips, labels, _, skipped = collate_skipping([train[0], train[2], train[1]])
    assert clips.shape == (2, 3, 4, 20, 20) and labels.tolist() == [0, 1] and skipped == 1
    test = VideoClipDataset(items[:1], ClipSpec(4, 2, num_clips=2, num_crops=3), transform, train=False)
    views, _, _ = test[0]
    assert views.shape == (6, 3, 4, 20, 20)


def test_single_frame_control_repeats_one_frame(ucf_tree: Path):
    items = ucf101_split(ucf_tree, 1, "train").items
    transform = ClipTransform(resize=24, crop=20, mean=(0.0,) * 3, std=(1.0,) * 3)
    test = VideoClipDataset(items, ClipSpec(4, 2, single_frame=True), transform, train=False)
    clip = test[0][0][0]
    assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(4))
