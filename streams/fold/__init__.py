"""The live worker: Faust agents fold the session topic into tables and serve them over HTTP.

``run_worker(settings, web_port=...)`` runs one worker; ``rebuild_projections(settings)``
folds the whole session topic again with the same pure functions. See docs/worker.md.
"""
from streams.fold.options import WorkerOptions
from streams.fold.rebuild import Rebuilt, rebuild_projections
from streams.fold.run import run_worker

__all__ = ["Rebuilt", "WorkerOptions", "rebuild_projections", "run_worker"]
