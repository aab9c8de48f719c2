"""blankett: scanned FK assistance forms in, typed and checked records out."""

import os

# One BLAS thread per process, set before NumPy loads OpenBLAS: the pipeline runs documents
# in parallel already, and the digit CNN's small matrix products were slowed 5-30x by
# OpenBLAS's own threads fighting them for the cores (28 vs 0.9 ms an image under load,
# docs/benchmarks.md). An explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
