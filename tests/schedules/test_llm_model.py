"""The shared char-level GPT of examples/llm/model.py: trainer, schedule, layer mask, logger."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "llm"))

from model import GPTConfig, LMTrainer, eval_loss, init_params, train  # noqa: E402

from optlib.schedules import linear_decay, logged_grad_norms  # noqa: E402


@pytest.mark.float32
def test_trainer_schedule_mask_and_logger():
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    data = jnp.asarray(np.random.default_rng(0).integers(0, 11, 500), jnp.uint8)
    params = jax.tree.map(lambda x: x.astype(jnp.float32), init_params(cfg, jax.random.key(0)))
    T = 6
    trainer = LMTrainer(cfg, schedule=linear_decay(1e-2, T), batch_size=4,
                        layer_mask=jnp.array([0.0, 1.0]), log_steps=T, weight_decay=0.1)
    result = train(trainer, params, data, T, jax.random.key(1))
    lr = np.asarray(result.history.info.learning_rate)
    np.testing.assert_allclose(lr, 1e-2 * (1 - np.arange(T) / T), rtol=1e-6)
    # the frozen block did not move, the trainable one and the embeddings did
    before, after = jax.device_get((params, result.params))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(after["block_0"]),
                                                    jax.tree.leaves(before["block_0"]),
                                                    strict=True))
    assert np.abs(after["block_1"]["fc"]["kernel"] - before["block_1"]["fc"]["kernel"]).max() > 0
    assert np.abs(after["wte"]["embedding"] - before["wte"]["embedding"]).max() > 0
    logged = logged_grad_norms(result.state)
    np.testing.assert_allclose(logged.l2, result.history.info.grad_norm, rtol=1e-5)
    assert np.all(np.asarray(logged.l1) > np.asarray(logged.l2))
    # the loss is a proper cross-entropy: uniform logits (all-zero parameters) give log(vocab);
    # one compiled evaluation serves both parameter sets
    evaluate = jax.jit(lambda p: eval_loss(p, cfg, data, 8, 4))
    zero = jax.tree.map(jnp.zeros_like, params)
    np.testing.assert_allclose(evaluate(zero), np.log(11), rtol=1e-6)
    val = float(evaluate(result.params))
    assert np.isfinite(val) and val < np.log(11) + 0.5


def test_config_validation():
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
