"""Video datasets: clip sampling, transforms, split files, the synthetic set.

The decoders live in ``vidsparse.data.video_io``."""
