"""Test configuration: float64, strict rank promotion, a fixed PRNG key."""

import os

# Most of the suite's time is XLA compiling many small programs once each; LLVM's cheaper
# pipeline cuts that by about a fifth and changes no test's semantics (the flag is read when
# the CPU backend starts, so it is set before any computation).
os.environ["XLA_FLAGS"] = " ".join(filter(None, (
    os.environ.get("XLA_FLAGS"),
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")))

import jax  # noqa: E402
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key() -> jax.Array:
    return jax.random.key(0)
