"""Loader for the tiny Shakespeare character-level language-modelling corpus."""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np


class CharCorpus(NamedTuple):
    """A character-level corpus, encoded.

    Attributes:
        text: the raw text.
        vocab: the sorted distinct characters; token ``i`` is ``vocab[i]``.
        train: ``uint8`` token ids of the first ``train_fraction`` of the text.
        val: ``uint8`` token ids of the rest.
    """

    text: str
    vocab: str
    train: np.ndarray
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        """Token ids of ``s`` (every character must be in the vocabulary)."""
        index = {c: i for i, c in enumerate(self.vocab)}
        try:
            return np.array([index[c] for c in s], dtype=np.uint8)
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: np.ndarray) -> str:
        """The text of token ids."""
        return "".join(self.vocab[int(i)] for i in np.asarray(ids).ravel())


def load_tinyshakespeare(train_fraction: float = 0.9) -> CharCorpus:
    """Loads tiny Shakespeare (1,115,394 characters, 65 distinct) as a character corpus.

    The split is contiguous: the first ``train_fraction`` of the text is the training set
    (with the default 0.9, 1,003,854 training and 111,540 validation characters, as in
    nanoGPT's ``shakespeare_char``).

    Args:
        train_fraction: fraction of the text used for training, in ``(0, 1)``.

    Returns:
        A :class:`CharCorpus`.

    Raises:
        ValueError: for ``train_fraction`` outside ``(0, 1)``.

    Example:
        >>> from optlib.datasets import load_tinyshakespeare
        >>> corpus = load_tinyshakespeare()
        >>> corpus.vocab_size, len(corpus.train), len(corpus.val)
        (65, 1003854, 111540)
        >>> corpus.decode(corpus.train[:14])
        'First Citizen:'
    """
    if not 0.0 < float(train_fraction) < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    path = resources.files("optlib.datasets").joinpath("data/tinyshakespeare/input.txt")
    text = path.read_text(encoding="utf-8")
    vocab = "".join(sorted(set(text)))
    table = np.zeros(128, dtype=np.uint8)
    table[[ord(c) for c in vocab]] = np.arange(len(vocab), dtype=np.uint8)
    ids = table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    n = int(train_fraction * len(ids))
    return CharCorpus(text, vocab, ids[:n], ids[n:])
