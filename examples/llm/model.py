"""The small character-level transformer LM shared by optlib's LLM-facing examples.

One model, one trainer, imported by ``benchmarks/schedules.py`` and by the examples under
``examples/`` (put this folder on ``sys.path``)::

    import sys; sys.path.insert(0, "examples/llm")
    from model import GPTConfig, LMTrainer, init_params, eval_loss, train

It is a GPT-style decoder (pre-LayerNorm blocks, causal multi-head attention, GELU MLP) in
``flax.linen``. :class:`LMTrainer` is an optlib solver: each step samples a batch with the
step's key, takes the learning rate from a schedule (any ``count -> value`` callable; the
optlib schedules are pytrees, so changing the peak or the horizon does not recompile), and
applies AdamW. ``layer_mask`` freezes transformer blocks (for layer-sampling methods such as
LISA or ScaleBiO), and ``log_steps`` records the l2/l1 gradient norms of every update for
:func:`optlib.schedules.refine`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import optlib
from optlib.core import solver_dataclass, static_field
from optlib.core._tree import first_leaf_dtype
from optlib.schedules import grad_norm_logger

PyTree = Any


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Model size (static).

    Attributes:
        vocab_size: number of tokens (65 for tiny Shakespeare).
        block_size: context length.
        n_layer: transformer blocks.
        n_head: attention heads.
        n_embd: embedding width (divisible by ``n_head``).
    """

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")


class CausalSelfAttention(nn.Module):
    config: GPTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        B, L, C = x.shape
        H = self.config.n_head
        qkv = nn.Dense(3 * C, name="qkv")(x).reshape(B, L, 3, H, C // H)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        scores = jnp.einsum("blhd,bmhd->bhlm", q, k) / jnp.sqrt(C // H).astype(x.dtype)
        causal = jnp.tril(jnp.ones((L, L), bool))
        scores = jnp.where(causal, scores, jnp.finfo(scores.dtype).min)
        att = jax.nn.softmax(scores, axis=-1)
        y = jnp.einsum("bhlm,bmhd->blhd", att, v).reshape(B, L, C)
        return nn.Dense(C, name="proj")(y)


class Block(nn.Module):
    config: GPTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        C = self.config.n_embd
        x = x + CausalSelfAttention(self.config, name="attn")(nn.LayerNorm(name="ln1")(x))
        h = nn.Dense(4 * C, name="fc")(nn.LayerNorm(name="ln2")(x))
        return x + nn.Dense(C, name="out")(nn.gelu(h))


class GPT(nn.Module):
    """Token ids ``(B, L)`` -> next-token logits ``(B, L, vocab_size)``."""

    config: GPTConfig

    @nn.compact
    def __call__(self, ids: jax.Array) -> jax.Array:
        cfg = self.config
        L = ids.shape[-1]
        x = nn.Embed(cfg.vocab_size, cfg.n_embd, name="wte")(ids)
        x = x + nn.Embed(cfg.block_size, cfg.n_embd, name="wpe")(jnp.arange(L))[None]
        for i in range(cfg.n_layer):
            x = Block(cfg, name=f"block_{i}")(x)
        return nn.Dense(cfg.vocab_size, name="head")(nn.LayerNorm(name="ln_f")(x))


def init_params(config: GPTConfig, key: jax.Array) -> PyTree:
    """Initial parameters (float32)."""
    ids = jnp.zeros((1, config.block_size), jnp.int32)
    # jitted: flax's eager initialization would compile every primitive on its own
    return jax.jit(lambda k: GPT(config).init(k, ids)["params"])(key)


def num_params(params: PyTree) -> int:
    """Number of scalars in ``params``."""
    return sum(x.size for x in jax.tree.leaves(params))


def loss_fn(params: PyTree, config: GPTConfig, windows: jax.Array) -> jax.Array:
    """Mean next-character cross-entropy (nats) over windows ``(B, block_size + 1)``."""
    logits = GPT(config).apply({"params": params}, windows[:, :-1].astype(jnp.int32))
    targets = windows[:, 1:].astype(jnp.int32)
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def sample_batch(key: jax.Array, data: jax.Array, batch_size: int,
                 block_size: int) -> jax.Array:
    """``batch_size`` random windows of ``block_size + 1`` tokens from ``data``."""
    starts = jax.random.randint(key, (batch_size,), 0, data.shape[0] - block_size - 1)
    return jax.vmap(lambda s: jax.lax.dynamic_slice(data, (s,), (block_size + 1,)))(starts)


def eval_loss(params: PyTree, config: GPTConfig, data: jax.Array, num_windows: int = 256,
              batch_size: int = 64) -> jax.Array:
    """Loss on ``num_windows`` evenly spaced windows of ``data`` (deterministic; jit-safe)."""
    starts = jnp.linspace(0, data.shape[0] - config.block_size - 2, num_windows).astype(jnp.int32)
    windows = jax.vmap(lambda s: jax.lax.dynamic_slice(data, (s,), (config.block_size + 1,)))(
        starts).reshape(-1, batch_size, config.block_size + 1)
    return jax.lax.map(lambda w: loss_fn(params, config, w), windows).mean()


def mask_layers(tree: PyTree, layer_mask: jax.Array | None) -> PyTree:
    """Multiplies the ``block_i`` subtrees of a params-shaped tree by ``layer_mask[i]``.

    Embeddings, the final LayerNorm and the head are never masked. ``None`` is a no-op.
    """
    if layer_mask is None:
        return tree
    out = dict(tree)
    for name, sub in tree.items():
        if name.startswith("block_"):
            i = int(name.split("_")[1])
            out[name] = jax.tree.map(lambda x, m=layer_mask[i]: x * m.astype(x.dtype), sub)
    return out


class TrainerState(NamedTuple):
    """State of :class:`LMTrainer`: the update count and the optax state."""

    count: jax.Array
    opt_state: PyTree


class TrainInfo(NamedTuple):
    """Per-step info: minibatch loss, gradient l2 norm, learning rate used."""

    value: jax.Array
    grad_norm: jax.Array
    learning_rate: jax.Array


@solver_dataclass
class LMTrainer:
    """AdamW on the GPT with a learning-rate schedule; an optlib solver.

    ``run_steps(trainer, params, train_tokens, num_steps=T, key=key)`` trains for ``T``
    updates. Every numeric field is a traced leaf: sweeping the schedule's peak, the weight
    decay or the layer mask (or ``vmap``-ing over them) reuses one compiled program.

    Attributes:
        config: the model size (static).
        schedule: learning rate as a function of the update count (an optlib schedule,
            any optax schedule, or a float).
        batch_size: sequences per step (static).
        weight_decay: decoupled weight decay (scaled by the learning rate, as in optax).
        b1, b2: Adam's moment decays.
        clip_norm: global-norm gradient clipping threshold.
        layer_mask: ``(n_layer,)`` 0/1 array, or ``None``: blocks with 0 get neither updates
            nor moment updates (their gradients are zeroed before AdamW).
        log_steps: preallocate a :func:`optlib.schedules.grad_norm_logger` for this many
            updates (static; 0 disables logging).
    """

    config: GPTConfig = static_field()
    schedule: Any = 1e-3
    batch_size: int = static_field(default=32)
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.99
    clip_norm: float = 1.0
    layer_mask: jax.Array | None = None
    log_steps: int = static_field(default=0)

    def _optimizer(self, dtype: Any) -> optax.GradientTransformation:
        # hyperparameters follow the parameters' dtype (float32 model under jax_enable_x64)
        cast = lambda x: jnp.asarray(x, dtype)  # noqa: E731
        parts = [grad_norm_logger(self.log_steps)] if self.log_steps else []
        parts += [optax.clip_by_global_norm(cast(self.clip_norm)),
                  optax.adamw(lambda count: cast(self.learning_rate(count)), b1=cast(self.b1),
                              b2=cast(self.b2), weight_decay=cast(self.weight_decay))]
        return optax.chain(*parts)

    def learning_rate(self, count: jax.Array) -> jax.Array:
        """The learning rate at update ``count``."""
        return self.schedule(count) if callable(self.schedule) else jnp.asarray(self.schedule)

    def init(self, params: PyTree, data: jax.Array, key: jax.Array | None = None) -> TrainerState:
        del data, key
        return TrainerState(jnp.zeros((), jnp.int32),
                            self._optimizer(first_leaf_dtype(params)).init(params))

    def step(self, params: PyTree, state: TrainerState, data: jax.Array,
             key: jax.Array | None = None) -> tuple[PyTree, TrainerState, TrainInfo]:
        if key is None:
            raise ValueError("LMTrainer samples batches: pass key= to optlib.run_steps")
        windows = sample_batch(key, data, self.batch_size, self.config.block_size)
        value, grads = jax.value_and_grad(loss_fn)(params, self.config, windows)
        grads = mask_layers(grads, self.layer_mask)
        optimizer = self._optimizer(first_leaf_dtype(params))
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        updates = mask_layers(updates, self.layer_mask)
        params = optax.apply_updates(params, updates)
        info = TrainInfo(value, optax.tree.norm(grads), self.learning_rate(state.count))
        return params, TrainerState(state.count + 1, opt_state), info

    def terminate(self, params: PyTree, state: TrainerState, info: TrainInfo) -> jax.Array:
        del params, state
        return ~jnp.isfinite(info.value)


def make_train_step(trainer: LMTrainer) -> Callable[..., tuple[PyTree, TrainerState, TrainInfo]]:
    """A jitted ``(params, state, data, key) -> (params, state, info)`` for Python loops."""
    return jax.jit(lambda params, state, data, key: trainer.step(params, state, data, key=key))


def train(trainer: LMTrainer, params: PyTree, data: jax.Array, num_steps: int,
          key: jax.Array, hooks: Sequence[Any] = ()) -> optlib.RunResult:
    """``num_steps`` updates with :func:`optlib.run_steps`; ``history.info`` holds every step."""
    return optlib.run_steps(trainer, params, data, num_steps=num_steps, key=key, hooks=hooks)


def use_cheap_compilation() -> None:
    """Makes XLA:CPU compile with its cheaper LLVM pipeline, as the test suite does.

    A ``--quick`` run is mostly compilation; this about halves it, at some cost in run time.
    Call it before JAX's first computation (it sets ``XLA_FLAGS``, read when the backend starts).
    """
    flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
