"""The seed's end model trained exactly the seed's own way on the data, and what it needs to learn: the
accumulators Adagrad starts from, larger steps, or positives crowded onto few books.

The replica in `pipeline.training.endmodel` departs from the tutorial in two quirks (padding masked, a full
shuffle) and draws its negatives once. This probe puts all of them back: the tutorial's example stream (rows in
its order, LF-labelled train rows then dev, each positive followed by its random negative, fresh negatives on
every pass), ``shuffle(123)``, batches of 256, and the user vector ``padded_batch`` + ``sum / len`` compute:
``(sum of the real books + (L_max_in_batch - n) * E[0]) / n`` (book 0 fills the padding). Adagrad as the
tutorial's TF 1.14 built it from the string ``"Adagrad"`` (learning rate 0.001, accumulators starting at 0; see
`pipeline.training.endmodel`), 30 epochs x 300 steps.

Two ways to make the same model learn, to see what it needs: ``--zipf S`` redraws the book of every positive row
(training labels, val and test) from a Zipf law of exponent S over the books, so a few books hold most positives
(negatives stay as they are); ``--lr`` sets Adagrad's learning rate and ``--accumulator`` its starting
accumulator (Keras' constructor default, 0.1, is what made the replica learn nothing). The README's data
section has the figures.

It prints how concentrated the positives are (the share of the 100 commonest books, and the effective number of
books, 1 / sum of squared shares), the test table by the seed's protocol (every labelled test row and one random
unseen book per positive; threshold 0.5) beside the seed's, and the seed's own evaluation (the first 30 batches of
the test stream).

Usage: python -m bench.replica_probe --data DIR [--zipf 1.0] [--lr 0.001] [--accumulator 0] [--epochs 30]
[--steps 300]
(DIR/processed as `python -m bench.data_pipeline --work DIR` makes it; takes about 8 minutes on 2 cores.)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

SEED_TEST = {"accuracy": 0.654, "precision": 0.662, "recall": 0.292, "f1": 0.397}
SEED_BATCH = 256
SEED_SHUFFLE_BUFFER = 123
SEED_EVAL_STEPS = 30
SEED_VALIDATION_STEPS = 40


def concentration(book_idx: np.ndarray, top: int = 100) -> dict[str, float]:
    """How concentrated rows are on books: the share of the `top` commonest books, and the effective number of
    books (1 / sum of squared shares: n for n equally common books)."""
    counts = np.sort(np.bincount(np.asarray(book_idx, dtype=np.int64)))[::-1]
    counts = counts[counts > 0]
    if len(counts) == 0:
        return {"books": 0, f"top{top}_share": float("nan"), "effective_books": float("nan")}
    shares = counts / counts.sum()
    return {"books": int(len(counts)), f"top{top}_share": float(shares[:top].sum()),
            "effective_books": float(1.0 / np.square(shares).sum())}


def zipf_books(n_books: int, exponent: float, seed: int = 7) -> np.ndarray:
    """Probabilities over the books of a Zipf law with `exponent`, ranks assigned to books at random."""
    p = 1.0 / np.arange(1, n_books + 1, dtype=np.float64) ** exponent
    return (p / p.sum())[np.random.default_rng(seed).permutation(n_books)]


def redraw_positives(book_idx: np.ndarray, label: np.ndarray, p: np.ndarray | None, seed: int) -> np.ndarray:
    """`book_idx` with every positive row's book redrawn from `p` (unchanged when p is None)."""
    book_idx = np.asarray(book_idx).copy()
    if p is not None:
        pos = np.asarray(label) >= 0.5
        book_idx[pos] = np.random.default_rng(seed).choice(len(p), size=int(pos.sum()), p=p)
    return book_idx


def seed_stream(user_idx, book_idx, label, csr, n_books: int, passes: int, rng: np.random.Generator):
    """`passes` passes of the tutorial's example stream, concatenated: (sets [n, 200] padded with n_books, set
    lengths, candidates, labels). Within a pass rows keep their order and each positive is followed by its random
    negative, drawn afresh on every pass."""
    from pipeline.training.endmodel import build_examples

    user_idx, book_idx, label = map(np.asarray, (user_idx, book_idx, label))
    positives = np.flatnonzero(label >= 0.5)
    parts = []
    for _ in range(passes):
        ex = build_examples(user_idx, book_idx, label, csr, n_books, rng=rng)
        key = np.concatenate([np.arange(len(user_idx), dtype=np.float64), positives + 0.5])
        order = np.argsort(key, kind="stable")
        sets = np.full((len(ex), 200), n_books, dtype=np.int32)
        sets[:, :ex.book_idxs.shape[1]] = ex.book_idxs
        parts.append((sets[order], ex.set_len[order], ex.book_idx[order], ex.label[order]))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def seed_model(n_books: int, learning_rate: float = 0.001, accumulator: float | None = None):
    """The tutorial's model: mean set embedding with book 0 counted for every padded slot, the candidate's
    embedding, the hidden layer created and dropped, Dense(1, sigmoid), Adagrad."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    from keras import ops

    sets = keras.Input([None], dtype="int32", name="sets")
    n = keras.Input([], name="n")
    n_pad = keras.Input([], name="n_pad")
    candidate = keras.Input([], dtype="int32", name="candidate")
    set_table = keras.layers.Embedding(n_books + 1, 64, name="set_embedding")
    real = ops.expand_dims(ops.cast(ops.not_equal(sets, n_books), "float32"), -1)
    total = ops.sum(set_table(sets) * real, axis=1) + ops.expand_dims(n_pad, 1) * set_table(ops.zeros_like(candidate))
    user = total / ops.expand_dims(ops.maximum(n, 1.0), 1)
    book = keras.layers.Embedding(n_books, 64, name="book_embedding")(candidate)
    x = keras.layers.concatenate([user, book], 1)
    keras.layers.Dense(32, activation="relu")(x)  # the tutorial's hidden layer, its result dropped
    out = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    model = keras.Model([sets, n, n_pad, candidate], out)
    from pipeline.training.endmodel import SEED_ADAGRAD_ACCUMULATOR, keras_classes

    start = SEED_ADAGRAD_ACCUMULATOR if accumulator is None else accumulator
    optimizer = keras_classes().FusedAdagrad(learning_rate=learning_rate, initial_accumulator_value=start,
                                             epsilon=1e-7)
    model.compile(optimizer, "binary_crossentropy",
                  metrics=["accuracy", keras.metrics.Precision(name="precision"),
                           keras.metrics.Recall(name="recall")])
    return model


def seed_batches(stream, seed: int):
    """shuffle(123) over the stream, endless, batches of 256; n_pad = the batch's longest set minus each set."""
    import tensorflow as tf

    def inputs(sets, n, candidate, label):
        n_pad = tf.cast(tf.reduce_max(n) - n, tf.float32)
        return (sets, tf.cast(n, tf.float32), n_pad, candidate), label

    ds = tf.data.Dataset.from_tensor_slices(stream).shuffle(SEED_SHUFFLE_BUFFER, seed=seed).repeat()
    return ds.batch(SEED_BATCH).map(inputs).prefetch(4)


def test_table(model, stream, n_books: int) -> dict[str, float]:
    """The seed's protocol on the whole test stream, sets averaged over their real books (no batch-dependent
    padding): accuracy, precision, recall, F1 at 0.5 and ROC-AUC."""
    from sklearn.metrics import roc_auc_score

    set_table = model.get_layer("set_embedding").get_weights()[0].copy()
    set_table[n_books] = 0.0
    book_table = model.get_layer("book_embedding").get_weights()[0]
    w, b = model.get_layer("output").get_weights()
    sets, n, candidate, label = stream
    user = set_table[sets].sum(1) / np.maximum(n, 1)[:, None]
    logit = user @ w[:64, 0] + book_table[candidate] @ w[64:, 0] + b[0]
    y = label >= 0.5
    pred = logit > 0
    tp = int((pred & y).sum())
    precision = tp / max(int(pred.sum()), 1)
    recall = tp / max(int(y.sum()), 1)
    return {"accuracy": float((pred == y).mean()), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12), "roc_auc": float(roc_auc_score(y, logit)),
            "positives": float(y.mean())}


def training_labels_for(prepared):
    """The seed's training rows: LF-labelled train rows (snorkel's LabelModel over the default LFs) then dev."""
    from lfs.config import load_config
    from lfs.features import load_all_features
    from lfs.workspace import open_split
    from pipeline.training.labelmodel import LabelModelParams, fit_label_model, training_labels

    specs = load_config(Path(__file__).resolve().parent.parent / "lfs" / "default.toml").enabled()
    feats = load_all_features(prepared, ("train", "dev"), progress=False)
    splits = {s: open_split(prepared, s, features=feats[s]) for s in ("train", "dev")}
    L = {s: split.matrix(specs) for s, split in splits.items()}
    model = fit_label_model(L["train"], LabelModelParams())
    return training_labels(prepared.splits["train"], L["train"], model, prepared.splits["dev"])


def probe(processed: Path, *, zipf: float = 0.0, epochs: int = 30, steps: int = 300, seed: int = 0,
          learning_rate: float = 0.001, accumulator: float | None = None, log=None) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from pipeline.data.dataset import load_prepared

    if log is None:
        def log(line: str) -> None:
            print(line, flush=True)

    prepared = load_prepared(processed)
    n_books, csr = len(prepared.books), prepared.user_books_csr
    labels = training_labels_for(prepared)
    p = zipf_books(n_books, zipf) if zipf else None
    rng = np.random.default_rng(seed)
    u, y = labels.user_idx.to_numpy(), labels.label.to_numpy()
    b = redraw_positives(labels.book_idx.to_numpy(), y, p, seed=8)
    split = {s: prepared.splits[s] for s in ("val", "test")}
    split_books = {s: redraw_positives(d.book_idx.to_numpy(), d.rating.to_numpy(), p, seed=9 + i)
                   for i, (s, d) in enumerate(split.items())}
    per_pass = len(u) + int((y >= 0.5).sum())
    passes = int(np.ceil(epochs * steps * SEED_BATCH / per_pass))
    train = seed_stream(u, b, y, csr, n_books, passes, rng)
    val, test = (seed_stream(split[s].user_idx.to_numpy(), split_books[s], split[s].rating.to_numpy(float), csr,
                             n_books, 1, rng) for s in ("val", "test"))
    result: dict = {"zipf": zipf, "epochs": epochs, "steps": steps, "learning_rate": learning_rate,
                    "accumulator": accumulator,
                    "train_positives": concentration(b[y >= 0.5]),
                    "test_positives": concentration(split_books["test"][split["test"].rating.to_numpy() >= 0.5])}
    log(f"positives' books: train {_fmt(result['train_positives'])}; test {_fmt(result['test_positives'])}")

    keras.utils.set_random_seed(seed)
    model = seed_model(n_books, learning_rate, accumulator)
    started = time.perf_counter()

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log(f"  epoch {epoch + 1}/{epochs} {time.perf_counter() - started:.0f} s "
                + " ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items()))

    model.fit(seed_batches(train, seed), steps_per_epoch=steps, epochs=epochs,
              validation_data=seed_batches(val, seed), validation_steps=SEED_VALIDATION_STEPS, verbose=0,
              callbacks=[Log()])
    result["train_seconds"] = time.perf_counter() - started
    result["test"] = test_table(model, test, n_books)
    seed_eval = model.evaluate(seed_batches(test, seed), steps=SEED_EVAL_STEPS, verbose=0, return_dict=True)
    result["seed_evaluate_30_batches"] = {k: float(v) for k, v in seed_eval.items()}
    return result


def _fmt(c: dict) -> str:
    return f"{c['books']:,} books, top 100 hold {c['top100_share']:.3f}, effective books {c['effective_books']:,.0f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a folder holding processed/ (seed scale)")
    ap.add_argument("--zipf", type=float, default=0.0, help="redraw positives' books from a Zipf law (0: off)")
    ap.add_argument("--lr", type=float, default=0.001, help="Adagrad's learning rate (the tutorial: 0.001)")
    ap.add_argument("--accumulator", type=float, default=None,
                    help="Adagrad's starting accumulator (the tutorial's TF 1.14: 0; Keras' constructor: 0.1)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print the result as JSON at the end")
    args = ap.parse_args(argv)
    r = probe(args.data / "processed", zipf=args.zipf, epochs=args.epochs, steps=args.steps,
              learning_rate=args.lr, accumulator=args.accumulator)
    changes = ([f"positives from Zipf {args.zipf}"] if args.zipf else []) + \
        ([f"Adagrad at {args.lr}"] if args.lr != 0.001 else []) + \
        ([f"accumulators from {args.accumulator:g}"] if args.accumulator not in (None, 0.0) else [])
    print(f"\nthe seed's end model, trained the seed's way{''.join(', ' + c for c in changes)}"
          f" ({r['train_seconds']:.0f} s):")
    print("  test (every labelled row + one random unseen book per positive): "
          + "  ".join(f"{m} {r['test'][m]:.3f} (seed {SEED_TEST[m]:.3f})" for m in SEED_TEST)
          + f"  roc_auc {r['test']['roc_auc']:.3f}")
    print("  the seed's own evaluate (first 30 batches): "
          + "  ".join(f"{k} {v:.3f}" for k, v in r["seed_evaluate_30_batches"].items()))
    if args.json:
        print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
