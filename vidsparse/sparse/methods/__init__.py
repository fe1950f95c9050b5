"""Sparse training methods; importing this package registers every one of them."""

from vidsparse.sparse.methods import basic, dst, pruning  # noqa: F401  (registration)

