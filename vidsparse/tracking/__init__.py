"""Experiment tracking (``--log csv,tensorboard,wandb,mlflow``): one interface (``base.Backend``),
one module per backend, and ``session.RunTracker``, which the training loop drives on rank 0.

It sits with ``data``/``models``/``sparse`` (layer 4) and takes plain dicts only, so both the
training loop and ``vidsparse eval`` can use it.
"""

from vidsparse.tracking.base import BACKENDS, Backend, TrackedRun, eval_scalars, flatten, parse_backends, register_backend
from vidsparse.tracking.session import RunTracker, TrackingState, attach_eval

__all__ = ["BACKENDS", "Backend", "RunTracker", "TrackedRun", "TrackingState", "attach_eval", "eval_scalars",
           "flatten", "parse_backends", "register_backend"]
