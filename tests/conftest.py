"""Shared test setup: a fast hypothesis profile for CI and small thread counts."""

import os
import tempfile

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# train.dtype auto on a CPU measures float32 against bfloat16 (hrmzoo.precision_probe): the suite pins
# float32 so results do not depend on the machine's bf16 speed (tests of the probe unset it), and
# every cache (dtype choices, compiled kernels) goes to a fresh directory, never the user's
os.environ.setdefault("HRMZOO_DTYPE_AUTO", "float32")
os.environ["HRMZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="hrmzoo-test-cache-")

# the test models are tiny: one thread avoids contention and is as fast
torch.set_num_threads(1)

# the registry is passive; tests that query it directly get what every front door loads
from hrmzoo.plugins import load_components  # noqa: E402

load_components()
