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

# train.dtype auto on a CPU measures float32 against bfloat16 (hrmzoo.train.precision_probe): the suite pins
# float32 so results do not depend on the machine's bf16 speed (tests of the probe unset it), and
# every cache (dtype choices, compiled kernels) goes to a fresh directory, never the user's
os.environ.setdefault("HRMZOO_DTYPE_AUTO", "float32")
os.environ["HRMZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="hrmzoo-test-cache-")

# the test models are tiny: one thread avoids contention and is as fast
torch.set_num_threads(1)

# the registry is passive; tests that query it directly get what every front door loads
from hrmzoo.loading.plugins import load_components  # noqa: E402

load_components()


import sys  # noqa: E402

import pytest  # noqa: E402

from hrmzoo.registry import REGISTRIES  # noqa: E402


@pytest.fixture(autouse=True)
def _components_registered_by_a_test_are_forgotten_after_it():
    """A recipe's `imports:` (e.g. the controllers experiment's plugin) registers components for the
    rest of the process; unregistered after each test (and the plugin module forgotten, so a later
    import registers it again), later tests - the catalogue's sync check above all - see only the
    zoo's own components, in any test order."""
    before = {kind: set(reg.names()) for kind, reg in REGISTRIES.items()}
    yield
    for kind, reg in REGISTRIES.items():
        for name in set(reg.names()) - before[kind]:
            module = reg.get(name).module
            reg.remove(name)
            if not module.startswith(("hrmzoo.", "tests.")):
                sys.modules.pop(module, None)
