"""`python -m closet.kserve`: closet/kserve/server.py's command line."""

import os
import sys

# prometheus_client switches to multiprocess files at import when this is set (TorchServe's workers
# use it, closet/serving/worker_metrics.py); this runtime is one process and serves from memory.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from closet.kserve.server import main  # noqa: E402

sys.exit(main())
