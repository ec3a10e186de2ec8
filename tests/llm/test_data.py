"""The example data builders: deterministic under a key, disjoint, and what they claim."""

import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "llm"))

import _data  # noqa: E402


def test_play_split_finds_the_trailing_comedies():
    items = _data.speeches(_data.corpus().text)
    cut = _data.held_out_plays(items)
    held = {s.speaker for s in items[cut:]}
    rest = {s.speaker for s in items[:cut]}
    # The Taming of the Shrew and The Tempest: their principals speak nowhere else.
    assert {"PETRUCHIO", "KATHARINA", "PROSPERO", "MIRANDA"} <= held
    assert not {"PETRUCHIO", "PROSPERO"} & rest
    assert items[cut].speaker == "SLY"


def test_lm_sources_deterministic_and_distinct():
    a = _data.lm_sources(jax.random.key(0), chars_per_source=20_000, val_chars=5_000)
    b = _data.lm_sources(jax.random.key(0), chars_per_source=20_000, val_chars=5_000)
    c = _data.lm_sources(jax.random.key(1), chars_per_source=20_000, val_chars=5_000)
    for x, y in zip(a.sources + (a.val, a.test), b.sources + (b.val, b.test)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.sources[0], c.sources[0])
    assert a.names == ("clean", "char noise", "shuffled words", "held-out plays")
    assert all(len(s) == 20_000 for s in a.sources) and len(a.val) == len(a.test) == 5_000
    corpus = _data.corpus()
    clean, noisy, shuffled, shifted = (corpus.decode(s) for s in a.sources)
    # clean validation text never appears in a training source
    probe = corpus.decode(a.val[1000:1060])
    assert probe not in clean and probe not in shifted
    # about 30% of the noisy source's characters were redrawn (a few redraws hit the same one)
    text = _data._join(_data.speeches(corpus.text))
    words = [w for w in noisy.split() if len(w) > 6]
    assert sum(w in text for w in words) < 0.2 * len(words)
    # shuffling keeps every line's characters, but most lines no longer occur in the play
    lines = [ln for ln in shuffled.split("\n") if len(ln.split()) > 4]
    assert sum(ln in text for ln in lines) < 0.2 * len(lines)
    assert "PETRUCHIO" in shifted or "SLY" in shifted


def test_char_noise_rate_and_shuffle_keeps_words():
    tokens = np.zeros(100_000, np.uint8)
    noisy = _data.char_noise(tokens, 0.3, 65, jax.random.key(0))
    assert abs(np.mean(noisy != 0) - 0.3 * 64 / 65) < 0.01
    line = "to be or not to be that is the question"
    out = _data.shuffle_words(line + "\n" + line, jax.random.key(0))
    assert all(sorted(o.split()) == sorted(line.split()) for o in out.split("\n"))
    assert out != line + "\n" + line


def test_speaker_task_corruption_and_disjoint_splits():
    t = _data.speaker_task(jax.random.key(0), num_speakers=4, length=16, corrupt_fraction=0.4)
    assert len(t.speakers) == 4 and t.x_train.shape[1] == 16
    assert t.vocab_size == len(t.vocab) + 2 and t.x_train.max() < t.vocab_size
    np.testing.assert_array_equal(t.y_train == t.y_train_clean, ~t.corrupted)
    assert 0.33 < t.corrupted.mean() < 0.47
    assert set(np.unique(t.y_test)) == set(range(4))
    # a training piece decodes to words its (true) speaker says
    speaker = t.speakers[t.y_train_clean[0]]
    said = set(_data._WORD.findall(" ".join(
        s.text.lower() for s in _data.speeches(_data.corpus().text) if s.speaker == speaker)))
    words = [t.vocab[i - 2] for i in t.x_train[0] if i > 1]
    assert len(words) >= 8 and set(words) <= said
    t2 = _data.speaker_task(jax.random.key(0), num_speakers=4, length=16, corrupt_fraction=0.4)
    np.testing.assert_array_equal(t.y_train, t2.y_train)


def test_speaker_task_overlapping_training_pieces_and_corruption_key():
    t = _data.speaker_task(jax.random.key(0), num_speakers=3, length=16, corrupt_fraction=0.5,
                           train_stride=4, corrupt_key=jax.random.key(7))
    t1 = _data.speaker_task(jax.random.key(0), num_speakers=3, length=16, corrupt_fraction=0.5)
    # 4x more (overlapping) training pieces; the validation and test pieces are the same ones
    # (their word ids differ: overlapping pieces admit more words to the vocabulary)
    assert 3.2 * len(t1.y_train) < len(t.y_train) < 4.2 * len(t1.y_train)
    np.testing.assert_array_equal(t.y_test, t1.y_test)
    np.testing.assert_array_equal(t.x_test > 0, t1.x_test > 0)
    np.testing.assert_array_equal(t.y_val, t1.y_val)
    # consecutive pieces of one speech overlap by 12 words
    same = (t.y_train_clean[:-1] == t.y_train_clean[1:]) & (t.x_train[1:, -1] > 0)
    i = int(np.argmax(same))
    np.testing.assert_array_equal(t.x_train[i, 4:], t.x_train[i + 1, :12])
    # another corruption key corrupts other pieces of the same split
    t2 = _data.speaker_task(jax.random.key(0), num_speakers=3, length=16, corrupt_fraction=0.5,
                            train_stride=4, corrupt_key=jax.random.key(8))
    np.testing.assert_array_equal(t.y_train_clean, t2.y_train_clean)
    assert 0.4 < t.corrupted.mean() < 0.6 and (t.corrupted != t2.corrupted).mean() > 0.3
