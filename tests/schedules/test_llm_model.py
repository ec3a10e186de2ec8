"""The shared char-level GPT of examples/llm/model.py: trainer, schedule, layer mask, logger."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "llm"))

from model import GPTConfig, LMTrainer, eval_loss, init_params, loss_fn, train  # noqa: E402

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
    frozen = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                          result.params["block_0"], params["block_0"])
    assert max(jax.tree.leaves(frozen)) == 0.0
    assert float(jnp.max(jnp.abs(result.params["block_1"]["fc"]["kernel"]
                                 - params["block_1"]["fc"]["kernel"]))) > 0
    assert float(jnp.max(jnp.abs(result.params["wte"]["embedding"]
                                 - params["wte"]["embedding"]))) > 0
    logged = logged_grad_norms(result.state)
    np.testing.assert_allclose(logged.l2, result.history.info.grad_norm, rtol=1e-5)
    assert np.all(np.asarray(logged.l1) > np.asarray(logged.l2))
    # the loss is a proper cross-entropy: uniform logits give log(vocab)
    zero = jax.tree.map(jnp.zeros_like, params)
    windows = data[:18].reshape(2, 9)
    np.testing.assert_allclose(jax.jit(loss_fn, static_argnums=1)(zero, cfg, windows),
                               np.log(11), rtol=1e-6)
    val = jax.jit(eval_loss, static_argnums=(1, 3, 4))(result.params, cfg, data, 8, 4)
    assert np.isfinite(float(val))


def test_config_validation():
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
