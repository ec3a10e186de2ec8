"""Data for the LLM-facing examples, built from tiny Shakespeare (shipped with optlib).

* :func:`lm_sources`: several training sources for a character language model (clean text,
  text with character noise, text with the words of every line shuffled, text from held-out
  plays) and a clean validation and test set, all as token arrays over the corpus's
  65-character vocabulary.
* :func:`speaker_task`: a text-classification task, attributing a piece of a speech to its
  speaker among the most frequent speakers, with a fraction of the training labels
  corrupted.

Everything is a deterministic function of a PRNG key. The helpers live here (not in the
library) because they are example plumbing; import them with ``examples/llm`` on
``sys.path``, as the scripts do.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import NamedTuple

import jax
import numpy as np

from optlib.datasets import CharCorpus, load_tinyshakespeare

_SPEAKER = re.compile(r"[A-Za-z' ]+:")


@functools.lru_cache(maxsize=1)
def corpus() -> CharCorpus:
    """The whole tiny Shakespeare corpus (the loader's own 90/10 split is not used here)."""
    return load_tinyshakespeare()


def _rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key (host-side text edits need NumPy)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


class Speech(NamedTuple):
    """One speech: the speaker, the text spoken, and its index in the corpus."""

    speaker: str
    text: str
    index: int


def speeches(text: str) -> list[Speech]:
    """Splits the corpus into speeches (a ``NAME:`` line followed by the lines spoken)."""
    out = []
    for i, block in enumerate(text.split("\n\n")):
        head, _, body = block.partition("\n")
        if _SPEAKER.fullmatch(head) and body.strip():
            out.append(Speech(head[:-1], body.strip("\n"), i))
    return out


def play_boundaries(items: list[Speech], min_speeches: int = 20) -> list[int]:
    """Indices into ``items`` where a new play starts, found from the speakers alone.

    The corpus concatenates excerpts of several plays without titles. A principal character
    (an all-capitals name with at least ``min_speeches`` speeches) speaks only within one
    play, so a position that no principal character's first-to-last span crosses is a
    boundary between plays (a few names such as GLOUCESTER recur across the histories,
    which merges those plays into one block; that is harmless here).
    """
    counts = Counter(s.speaker for s in items)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, s in enumerate(items):
        first.setdefault(s.speaker, i)
        last[s.speaker] = i
    cover = np.zeros(len(items) + 1, np.int64)
    for name, n in counts.items():
        if name.isupper() and n >= min_speeches:
            cover[first[name]] += 1
            cover[last[name]] -= 1
    crossing = np.cumsum(cover)[:-1]
    return [i + 1 for i in range(len(items) - 1) if crossing[i] == 0]


def held_out_plays(items: list[Speech], fraction: float = 0.16) -> int:
    """The first speech index of the trailing plays that make up about ``fraction`` of the
    speeches (in tiny Shakespeare: *The Taming of the Shrew* and *The Tempest*)."""
    starts = [b for b in play_boundaries(items) if b >= (1 - 2 * fraction) * len(items)]
    if not starts:
        return int((1 - fraction) * len(items))
    return min(starts, key=lambda b: abs(len(items) - b - fraction * len(items)))


def _join(items: list[Speech]) -> str:
    return "\n\n".join(f"{s.speaker}:\n{s.text}" for s in items) + "\n\n"


def char_noise(tokens: np.ndarray, rate: float, vocab_size: int, key: jax.Array) -> np.ndarray:
    """Replaces a fraction ``rate`` of the characters by uniformly random characters."""
    rng = _rng(key)
    out = tokens.copy()
    hit = rng.random(tokens.shape) < rate
    out[hit] = rng.integers(0, vocab_size, int(hit.sum()), dtype=tokens.dtype)
    return out


def shuffle_words(text: str, key: jax.Array) -> str:
    """Shuffles the words within every line (same characters, broken syntax)."""
    rng = _rng(key)
    lines = []
    for line in text.split("\n"):
        words = line.split(" ")
        if len(words) > 1:
            words = [words[i] for i in rng.permutation(len(words))]
        lines.append(" ".join(words))
    return "\n".join(lines)


class LMSources(NamedTuple):
    """Token arrays (``uint8``) for the data-reweighting example.

    Attributes:
        names: the source names, in the order of ``sources``.
        sources: one token array per training source.
        val: clean validation text (the upper-level data).
        test: clean held-out text for the final comparison.
        vocab_size: 65.
    """

    names: tuple[str, ...]
    sources: tuple[np.ndarray, ...]
    val: np.ndarray
    test: np.ndarray
    vocab_size: int


def lm_sources(key: jax.Array, chars_per_source: int = 200_000, val_chars: int = 40_000,
               noise_rate: float = 0.3) -> LMSources:
    """Four training sources, a clean validation set and a clean test set.

    The plays other than the held-out ones are split speech by speech (randomly, under
    ``key``) into five disjoint parts: the *clean* source, the text behind the *noisy* and
    *shuffled* sources, the validation set and the test set. The *held-out plays* source is
    clean text from plays that appear nowhere else (a domain shift, not corruption).

    Args:
        key: PRNG key; every split and edit is a function of it.
        chars_per_source: characters in each training source.
        val_chars: characters in the validation and in the test set.
        noise_rate: fraction of characters replaced in the noisy source.

    Returns:
        :class:`LMSources` with sources ``clean``, ``char noise``, ``shuffled words``,
        ``held-out plays``.
    """
    c = corpus()
    items = speeches(c.text)
    cut = held_out_plays(items)
    main, shifted = items[:cut], items[cut:]
    k_split, k_noise, k_shuffle = jax.random.split(key, 3)
    order = _rng(k_split).permutation(len(main))
    parts: list[list[Speech]] = [[] for _ in range(5)]
    sizes = [0] * 5
    wanted = [chars_per_source] * 3 + [val_chars] * 2
    part = 0
    for i in order:
        while part < 5 and sizes[part] >= wanted[part]:
            part += 1
        if part == 5:
            break
        parts[part].append(main[i])
        sizes[part] += len(main[i].text) + len(main[i].speaker) + 4
    if part < 4:
        raise ValueError("chars_per_source/val_chars ask for more text than the corpus has")

    def encode(text: str, n: int) -> np.ndarray:
        return c.encode(text[:n])

    clean = encode(_join(parts[0]), chars_per_source)
    noisy = char_noise(encode(_join(parts[1]), chars_per_source), noise_rate, c.vocab_size,
                       k_noise)
    shuffled = encode(shuffle_words(_join(parts[2]), k_shuffle), chars_per_source)
    shift_text = _join(shifted)
    shift = encode(shift_text, chars_per_source)
    val = encode(_join(parts[3]), val_chars)
    test = encode(_join(parts[4]), val_chars)
    return LMSources(("clean", "char noise", "shuffled words", "held-out plays"),
                     (clean, noisy, shuffled, shift), val, test, c.vocab_size)


def windows(tokens: np.ndarray, length: int, num: int | None = None) -> np.ndarray:
    """Non-overlapping windows ``(num, length)`` from the start of ``tokens``."""
    n = len(tokens) // length if num is None else num
    if n * length > len(tokens):
        raise ValueError(f"{n} windows of {length} need {n * length} tokens, have {len(tokens)}")
    return tokens[: n * length].reshape(n, length)


class SpeakerTask(NamedTuple):
    """Speaker attribution: ``x`` are word ids (0 pads a short piece, 1 is a word outside the
    vocabulary), ``y`` the speaker.

    Attributes:
        speakers: the class names.
        vocab: the words; word id ``i + 2`` is ``vocab[i]``.
        x_train, y_train: training pieces and their (partly corrupted) labels.
        corrupted: ``bool`` mask of the training labels that were corrupted.
        y_train_clean: the true training labels (for diagnostics only).
        x_val, y_val: clean validation set (the upper-level data of hyper-cleaning).
        x_test, y_test: clean test set.
        vocab_size: number of word ids, padding and unknown included.
    """

    speakers: tuple[str, ...]
    vocab: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    corrupted: np.ndarray
    y_train_clean: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocab_size: int


_WORD = re.compile(r"[a-z']+")


def speaker_task(key: jax.Array, num_speakers: int = 4, length: int = 16,
                 corrupt_fraction: float = 0.4, val_fraction: float = 0.15,
                 test_fraction: float = 0.25, min_count: int = 2, train_stride: int | None = None,
                 corrupt_key: jax.Array | None = None) -> SpeakerTask:
    """Attribute a piece of ``length`` words of a speech to its speaker.

    The classes are the ``num_speakers`` speakers with the most text. Speeches are cut into
    consecutive pieces of ``length`` words (lower-cased, punctuation dropped; a piece keeps
    its speech's speaker); whole speeches go to the training, validation or test set, so no
    speech is split across sets. The vocabulary is the words seen at least ``min_count``
    times in the training pieces. A fraction ``corrupt_fraction`` of the training labels is
    replaced by a different, uniformly drawn speaker; validation and test labels are clean.

    Args:
        key: PRNG key.
        num_speakers: number of classes.
        length: words per piece (the last piece of a speech may be shorter, padded with 0).
        corrupt_fraction: fraction of training labels corrupted.
        val_fraction, test_fraction: fraction of speeches in the validation and test sets.
        min_count: minimum training count of a vocabulary word.
        train_stride: words between the starts of consecutive training pieces (default
            ``length``: no overlap); a smaller stride gives more, overlapping training pieces.
            Validation and test pieces never overlap.
        corrupt_key: PRNG key of the label corruption (default: derived from ``key``), so that
            one split can be corrupted in several ways.

    Returns:
        A :class:`SpeakerTask`.
    """
    c = corpus()
    items = speeches(c.text)
    volume: Counter = Counter()
    for s in items:
        volume[s.speaker] += len(s.text)
    names = tuple(n for n, _ in volume.most_common(num_speakers))
    label = {n: i for i, n in enumerate(names)}
    mine = [s for s in items if s.speaker in label]
    k_split, k_corrupt = jax.random.split(key)
    if corrupt_key is not None:
        k_corrupt = corrupt_key
    strides = (train_stride or length, length, length)
    u = _rng(k_split).random(len(mine))
    which = np.where(u < test_fraction, 2, np.where(u < test_fraction + val_fraction, 1, 0))
    pieces: list[list[list[str]]] = [[], [], []]
    ys: list[list[int]] = [[], [], []]
    for s, w in zip(mine, which, strict=True):
        words = _WORD.findall(s.text.lower())
        for start in range(0, len(words) - length // 4, strides[w]):
            pieces[w].append(words[start:start + length])
            ys[w].append(label[s.speaker])
    counts = Counter(word for piece in pieces[0] for word in piece)
    vocab = tuple(sorted(word for word, n in counts.items() if n >= min_count))
    index = {word: i + 2 for i, word in enumerate(vocab)}

    def encode(group: list[list[str]]) -> np.ndarray:
        out = np.zeros((len(group), length), np.int32)
        for i, piece in enumerate(group):
            out[i, : len(piece)] = [index.get(word, 1) for word in piece]
        return out

    x_tr, x_va, x_te = (encode(p) for p in pieces)
    y_tr, y_va, y_te = (np.asarray(y, np.int32) for y in ys)
    rng = _rng(k_corrupt)
    corrupted = rng.random(len(y_tr)) < corrupt_fraction
    shift = rng.integers(1, num_speakers, len(y_tr))
    noisy = np.where(corrupted, (y_tr + shift) % num_speakers, y_tr).astype(np.int32)
    return SpeakerTask(names, vocab, x_tr, noisy, corrupted, y_tr, x_va, y_va, x_te, y_te,
                       len(vocab) + 2)
