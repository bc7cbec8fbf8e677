"""gunicorn's settings for production, `make serve` and the benchmark's load run.

    gunicorn -c resolutionflow/gunicorn.conf.py resolutionflow.wsgi --bind … --workers N

The application is loaded once in the master (`preload_app`) and its objects are moved to
the garbage collector's permanent generation just before each worker is forked, the
fork-server recipe of Python's `gc.freeze()` documentation:

- Django, the URLconf, the compiled templates and the admin are some 100,000 long-lived objects.
  Left in the collected generations, every full collection in a worker walks all of them: on
  the designer's 500-node `Save node` that was the whole of its tail (p95 143–175 ms against
  a p50 of 57 ms; frozen, 78 ms). Frozen, a collection only walks what the request made.
- The collector does not write to frozen objects, so the workers keep sharing the master's
  pages instead of copying them on the first collection.

The collector is off in the master while it loads (no half-empty pages between the objects it
keeps), frozen before each fork and on again in the worker. Measured in docs/PERFORMANCE.md
("The tree designer").
"""

from __future__ import annotations

import gc

# Load Django before forking, so that there is something to freeze and share.
preload_app = True

# In the master only: this file is read before the application is loaded.
gc.disable()


def pre_fork(server, worker) -> None:
    # Everything the master holds now (the loaded app) is long-lived: out of the collector's way.
    gc.freeze()


def post_fork(server, worker) -> None:
    gc.enable()
