"""The README's corruption gallery: every ucf101-p corruption x severity on a filmed 240x320 clip.

The clip is 48 frames of a window panning across scikit-image's `rocket` photograph (real image
content, moving as a hand-held camera would; no real video ships with our dependencies),
written as H.264 at 25 fps, then previewed through the CLI:

    python scripts/make_gallery.py            # docs/images/preview-ucf101-p.png (+ -over-time.png)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from vidsparse.cli import main
from vidsparse.data.video.writer import write_video
from vidsparse.fidelity.inputs import panning_clip

OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "preview-ucf101-p.png"

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "rocket_pan.mp4"
        write_video(clip, panning_clip("rocket", frames=48, step=3).permute(0, 2, 3, 1), 25.0,
                    options={"crf": "12", "threads": "1"})
        sys.exit(main(["corrupt", "--preview", str(clip), "--out", str(OUT), "--preset", "ucf101-p"]))
