"""The live worker: Faust agents fold the session topic into tables and serve them over HTTP.

``run_worker(settings, web_port=...)`` runs one worker; ``rebuild_projections(settings)``
folds the whole session topic again with the same pure functions. See docs/worker.md.
"""
from streams.worker.options import WorkerOptions
from streams.worker.rebuild import Rebuilt, rebuild_projections
from streams.worker.run import run_worker

__all__ = ["Rebuilt", "WorkerOptions", "rebuild_projections", "run_worker"]
