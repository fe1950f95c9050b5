"""Image datasets: decoding, split readers, the in-memory image arrays."""
