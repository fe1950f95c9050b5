"""Training: one loop for dense and sparse runs (entry point: ``loop.train``)."""
