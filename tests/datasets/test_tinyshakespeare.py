"""The shipped tiny Shakespeare corpus and its loader."""

import hashlib
from importlib import resources

import numpy as np
import pytest

from optlib.datasets import load_tinyshakespeare


def test_corpus_is_the_published_file():
    data = resources.files("optlib.datasets").joinpath(
        "data/tinyshakespeare/input.txt").read_bytes()
    assert len(data) == 1_115_394
    assert hashlib.sha256(data).hexdigest() == (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")


def test_split_vocab_and_round_trip():
    corpus = load_tinyshakespeare()
    assert corpus.vocab_size == 65 and corpus.vocab == "".join(sorted(set(corpus.text)))
    assert (len(corpus.train), len(corpus.val)) == (1_003_854, 111_540)
    assert corpus.train.dtype == np.uint8 and corpus.train.max() < 65
    assert corpus.decode(corpus.val[:50]) == corpus.text[1_003_854:1_003_904]
    np.testing.assert_array_equal(corpus.encode("To be"), corpus.train[
        corpus.text.index("To be"):corpus.text.index("To be") + 5])
    half = load_tinyshakespeare(0.5)
    assert len(half.train) == len(corpus.text) // 2
    with pytest.raises(ValueError, match="train_fraction"):
        load_tinyshakespeare(1.0)
    with pytest.raises(ValueError, match="vocabulary"):
        corpus.encode("é")
