"""Evaluation: every number the toolkit publishes is made here (entry point: ``run.run_eval``)."""
