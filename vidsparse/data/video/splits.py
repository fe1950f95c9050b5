"""Official split files in, ``(path, label)`` lists out (labels from 0), as mmaction2 does.

Each parser checks the layout and raises a one-line UserError naming the file, the line and the
fix for a malformed line or an unknown class. Videos named in a split file but absent on disk are
collected in ``VideoList.missing``; the dataset builder warns about them (how many, the first few)
and skips them (docs/input-policies.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vidsparse.data.video.decoding import VIDEO_EXTENSIONS
from vidsparse.errors import UserError


@dataclass
class VideoList:
    items: list[tuple[Path, int]]
    classes: list[str]
    missing: list[str] = field(default_factory=list)  # listed in a split file, not on disk

    def __len__(self) -> int:
        return len(self.items)


def _require_root(root: Path) -> None:
    if not root.is_dir():
        raise UserError(f"data root not found: {root} (pass --data-root PATH)")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file; expected a split list with one video per line") from None


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, whitespace-separated fields) of the non-blank lines of a text file."""
    return [(number, line.split()) for number, line in enumerate(_text(path).splitlines(), 1) if line.strip()]


def _resolve(root: Path, rel: str, bases: tuple[str, ...] = ("", "UCF-101")) -> Path | None:
    for base in bases:
        candidate = root / base / rel if base else root / rel
        if candidate.is_file():
            return candidate
    return None


def ucf101_split(root: str | os.PathLike, split: int, part: str) -> VideoList:
    """UCF101: ``ucfTrainTestlist/classInd.txt`` (labels from 1) + ``{train,test}list0K.txt``."""
    root = Path(root)
    _require_root(root)
    if split not in (1, 2, 3):
        raise UserError(f"UCF101 has splits 1, 2, 3; got --split {split}")
    lists = root / "ucfTrainTestlist"
    class_file = lists / "classInd.txt"
    split_file = lists / f"{part}list{split:02d}.txt"
    for required in (class_file, split_file):
        if not required.is_file():
            raise UserError(
                f"missing split file {required}; expected the official ucfTrainTestlist/ folder in the data root"
            )
    classes: list[str] = []
    for number, fields in _lines(class_file):
        if len(fields) != 2 or not fields[0].isdigit():
            raise UserError(f"{class_file}:{number}: expected 'index ClassName', got {' '.join(fields)!r}")
        if int(fields[0]) != len(classes) + 1:
            raise UserError(f"{class_file}:{number}: class indices must run 1..N in order, got {fields[0]}")
        classes.append(fields[1])
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    items, missing = [], []
    for number, fields in _lines(split_file):
        if len(fields) > 2 or (len(fields) == 2 and not fields[1].isdigit()):
            raise UserError(f"{split_file}:{number}: expected 'Class/video.avi [label]', got {' '.join(fields)!r}")
        rel = fields[0]
        cls = rel.split("/")[0]
        if cls.lower() not in lookup:
            raise UserError(f"{split_file}:{number}: class {cls!r} of {rel} is not in {class_file.name}; "
                            "fix the line or add the class")
        label = lookup[cls.lower()]
        if len(fields) == 2 and int(fields[1]) - 1 != label:
            raise UserError(f"{split_file}:{number}: label {fields[1]} of {rel} disagrees with its class folder "
                            f"({cls} is {label + 1} in {class_file.name})")
        path = _resolve(root, rel)
        if path is None:
            missing.append(rel)
        else:
            items.append((path, label))
    return VideoList(items, classes, missing)


HMDB_PART = {"train": "1", "test": "2"}


def hmdb51_split(root: str | os.PathLike, split: int, part: str) -> VideoList:
    """HMDB51: ``<class>/*.avi`` and ``<class>_test_split{K}.txt`` with 0/1/2 = unused/train/test.

    Split files are looked for in the root, ``testTrainMulti_7030_splits/`` and ``splits/``.
    """
    root = Path(root)
    _require_root(root)
    if split not in (1, 2, 3):
        raise UserError(f"HMDB51 has splits 1, 2, 3; got --split {split}")
    split_dirs = [d for d in (root, root / "testTrainMulti_7030_splits", root / "splits") if d.is_dir()]
    split_files = sorted(
        p for d in split_dirs for p in d.glob(f"*_test_split{split}.txt")
    )
    if not split_files:
        raise UserError(
            f"missing split files <class>_test_split{split}.txt under {root} "
            "(or testTrainMulti_7030_splits/); extract the official HMDB51 splits there"
        )
    classes = sorted({p.name[: -len(f"_test_split{split}.txt")] for p in split_files})
    items, missing = [], []
    for label, cls in enumerate(classes):
        split_file = next(p for p in split_files if p.name == f"{cls}_test_split{split}.txt")
        for number, parts in _lines(split_file):
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise UserError(f"{split_file}:{number}: expected 'name.avi 0|1|2', got {' '.join(parts)!r}")
            if parts[1] != HMDB_PART[part]:
                continue
            path = _resolve(root, f"{cls}/{parts[0]}", ("", "hmdb51_org", "videos"))
            if path is None:
                missing.append(f"{cls}/{parts[0]}")
            else:
                items.append((path, label))
    return VideoList(items, classes, missing)


def folder_list(root: str | os.PathLike, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> VideoList:
    """One sub-folder per class (sorted names give labels 0..N-1)."""
    root = Path(root)
    _require_root(root)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise UserError(f"no class folders in {root}; expected <root>/<class>/<files>")
    items = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in extensions)
        if not files:
            raise UserError(f"class folder {class_dir} holds no files ({', '.join(extensions)})")
        items.extend((p, label) for p in files)
    return VideoList(items, [d.name for d in class_dirs])


def list_file(path: str | os.PathLike, root: str | os.PathLike | None = None) -> VideoList:
    """A ``path label`` list (labels from 0), paths relative to ``root`` or the list's folder."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing list file {path}; expected lines 'relative/path.mp4 label'")
    base = Path(root) if root else path.parent
    items, missing, max_label = [], [], -1
    for number, line in enumerate(_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, label_text = line.rsplit(maxsplit=1)
            label = int(label_text)
        except ValueError:
            raise UserError(f"{path}:{number}: expected 'path label', got {line!r}") from None
        if label < 0:
            raise UserError(f"{path}:{number}: labels start at 0, got {label}")
        max_label = max(max_label, label)
        video = base / rel
        (items.append((video, label)) if video.is_file() else missing.append(rel))
    return VideoList(items, [str(i) for i in range(max_label + 1)], missing)
