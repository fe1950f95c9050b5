"""``--log mlflow`` (``pip install 'vidsparse[mlflow]'``): an MLflow run.

The store is ``MLFLOW_TRACKING_URI`` when set (a tracking server, a database), else a file store
in RUN_DIR/mlruns (``mlflow ui --backend-store-uri RUN_DIR/mlruns``); MLflow 3 refuses file stores
unless ``MLFLOW_ALLOW_FILE_STORE`` is set, which this backend sets for its own default store only.
Experiment: ``MLFLOW_EXPERIMENT_NAME`` (default ``vidsparse``). The run id is kept in
tracking.json, so a resumed run and ``vidsparse eval`` log into the same MLflow run. MLflow cannot
delete metric points, so it is a committing backend (see ``base``). MLflow refuses to change a
logged parameter: a resumed run logs only new keys, and a changed value (say more epochs) as the
tag ``resumed.<key>``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from vidsparse.run_dir import RunDir
from vidsparse.tracking.base import Backend, Scalars, TrackedRun, register_backend

BATCH = 100  # MLflow takes at most 100 params / 1000 metrics per log_batch call


@register_backend
class MlflowBackend(Backend):
    name = "mlflow"
    module = "mlflow"
    extra = "mlflow"
    rewinds = False

    def __init__(self, run: TrackedRun) -> None:
        from mlflow.tracking import MlflowClient  # optional: mlflow

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = RunDir(run.run_dir).mlruns.resolve().as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self._client = MlflowClient(tracking_uri=uri)
        if run.run_id:
            self.run_id = run.run_id
            self._client.update_run(self.run_id, status="RUNNING")
        else:
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "vidsparse")
            experiment = self._client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self._client.create_experiment(name)
            self.run_id = self._client.create_run(experiment_id, run_name=run.name).info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param, RunTag  # optional: mlflow

        logged = self._client.get_run(self.run_id).data.params
        new = [Param(k, str(v)) for k, v in params.items() if k not in logged]
        changed = [RunTag(f"resumed.{k}", str(v)) for k, v in params.items() if k in logged and logged[k] != str(v)]
        for i in range(0, max(len(new), len(changed)), BATCH):
            self._client.log_batch(self.run_id, params=new[i:i + BATCH], tags=changed[i:i + BATCH])

    def log_scalars(self, step: int, scalars: Scalars) -> None:
        from mlflow.entities import Metric  # optional: mlflow

        now = int(time.time() * 1000)
        metrics = [Metric(tag, float(value), now, step) for tag, value in scalars.items()]
        for i in range(0, len(metrics), BATCH):
            self._client.log_batch(self.run_id, metrics=metrics[i:i + BATCH])

    def log_eval(self, step: int, scalars: Scalars) -> None:
        self.log_scalars(step, scalars)

    def close(self) -> None:
        self._client.set_terminated(self.run_id)
