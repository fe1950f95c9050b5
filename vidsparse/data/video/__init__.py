"""Video data: decoding (one file per backend, one selector in ``reader``), writing, datasets."""
