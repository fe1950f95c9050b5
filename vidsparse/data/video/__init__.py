"""Video data: decoding (one file per backend, one selector in ``reader``), writing, clip
sampling, transforms, split files, datasets and the synthetic set."""
