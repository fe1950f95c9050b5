"""On-the-fly ImageNet-C against published-style files, on real photographs.

Writes ``val/<class>/*.JPEG`` crops of scikit-image's sample photographs at ImageNet-like sizes,
makes a published-style ImageNet-C copy of them with ``vidsparse corrupt --dataset imagenet``
(short side 256, centre 224, corrupt, JPEG quality 85), and compares, per corruption over the
severities, the 224 x 224 uint8 images a model would read:

- ``on the fly``: what ``vidsparse eval`` makes (the same ResizeCrop(256, 224), the same seeds),
  against the files: the difference is the JPEG save alone;
- ``--published-jpeg``: on the fly with the JPEG save: should be 0 (bit-identical to the files);
- ``native-size``: the corruption applied at the photograph's own size and the result resized
  to 224 (what on-the-fly evaluation did before it followed the protocol), against the files.

Mean absolute difference in 0..255 levels and PSNR (dB); the clean row is each clean 224 crop
against its own JPEG save.

    OMP_NUM_THREADS=1 python scripts/bench_imagenet_c_protocol.py --images 8 --severities 1-5
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch

import corruptions
from vidsparse.cli import main as cli
from vidsparse.data.image.datasets import FileImages, ResizeCrop, fit
from vidsparse.data.image.io import jpeg_roundtrip, read_rgb
from vidsparse.data.image.readers import class_tree

from photo_folders import write_mixed_val

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def write_val(root: Path, count: int) -> None:
    """Mixed-size crops (300-500 px) of the photographs, JPEG 95, one class per photograph."""
    write_mixed_val(root, count, {name: name for name in PHOTOS}, min_fraction=2, sizes=(300, 501), quality=95,
                    digits=4)


def stats(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float, int]:
    """(mean |a - b|, PSNR in dB, max |a - b|) over all pixel pairs."""
    diffs = torch.cat([(a.float() - b.float()).flatten() for a, b in pairs])
    mse = float(diffs.pow(2).mean())
    return float(diffs.abs().mean()), (math.inf if mse == 0 else 10 * math.log10(255**2 / mse)), int(diffs.abs().max())


def native_size(image: torch.Tensor, name: str, severity: int, sample_id: str) -> torch.Tensor:
    corrupted = corruptions.apply(image[None], name, severity, seed=0, preset="imagenet-c", video_id=sample_id)[0]
    return (fit(corrupted.float().div(255), 224) * 255).round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--severities", default="1-5")
    parser.add_argument("--corruptions", default="imagenet-c", help="names, comma-separated, or a preset")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = corruptions.names("imagenet-c") if args.corruptions == "imagenet-c" else args.corruptions.split(",")
    low, _, high = args.severities.partition("-")
    severities = list(range(int(low), int(high or low) + 1))
    prepare = ResizeCrop(256, 224)
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "imagenet", Path(tmp) / "imagenet-c"
        write_val(root, args.images)
        assert cli(["corrupt", "--dataset", "imagenet", "--data-root", str(root), "--out", str(out),
                    "--corruptions", ",".join(names), "--severities", ",".join(map(str, severities))]) == 0
        val = FileImages(*reversed(class_tree(root / "val")))
        originals = [val.read(i) for i in range(len(val))]
        prepared = [prepare(image) for image in originals]
        print(f"{len(val)} photographs, severities {severities}; mean |diff| in 0..255 levels, PSNR in dB")
        print(f"{'corruption':18s} {'on the fly':>17s} {'--published-jpeg':>17s} {'native-size':>17s}")
        mean, psnr, _ = stats([(p, jpeg_roundtrip(p)) for p in prepared])
        print(f"{'clean (JPEG 85)':18s} {mean:8.2f} {psnr:7.1f}dB")
        for name in names:
            fly, published, native = [], [], []
            for severity in severities:
                for i, (image, prep) in enumerate(zip(originals, prepared)):
                    sample_id = val.sample_id(i)
                    file = read_rgb(out / name / str(severity) / sample_id)
                    made = corruptions.apply(prep[None], name, severity, seed=0, preset="imagenet-c",
                                             video_id=sample_id)[0]
                    fly.append((made, file))
                    published.append((jpeg_roundtrip(made), file))
                    native.append((native_size(image, name, severity, sample_id), file))
            row = [stats(pairs) for pairs in (fly, published, native)]
            print(f"{name:18s} " + " ".join(f"{m:8.2f} {p:7.1f}dB" if p != math.inf else f"{m:8.2f}   exact"
                                             for m, p, _ in row))


if __name__ == "__main__":
    main()
