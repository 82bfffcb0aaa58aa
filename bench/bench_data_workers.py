"""Batch loading on threads (PyDataset workers) overlapping with training steps.

    python bench/bench_data_workers.py [--batches 40] [--repeats 3]

Each batch of a PyDataset costs some numpy work to make (a stand-in for decoding and augmenting images:
repeated box blurs by shifted sums and a flip over a 64x32x32x3 float32 block, about as long as a step).
The consumer runs one train_on_batch step of a small conv model per batch. With workers=1 the two
alternate; with workers > 1 the batches are made on threads while the step computes (the kernels and
numpy's big loops release the GIL). Prints the epoch time for each worker count, best of --repeats.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's build
import minigraph as keras  # noqa: E402
from minigraph import layers  # noqa: E402
from minigraph.data_adapters import EpochIterator  # noqa: E402

BATCH, SIDE, CHANNELS, CLASSES = 64, 32, 3, 10


class AugmentedImages(keras.utils.PyDataset):
    def __init__(self, num_batches, passes, **kwargs):
        super().__init__(**kwargs)
        self.num_batches_, self.passes = num_batches, passes

    def __len__(self):
        return self.num_batches_

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        x = rng.random((BATCH, SIDE, SIDE, CHANNELS), dtype=np.float32)
        for _ in range(self.passes):  # the "augmentation": repeated 3x3 box blurs and a flip
            x = (x + np.roll(x, 1, axis=1) + np.roll(x, -1, axis=1)) / 3
            x = (x + np.roll(x, 1, axis=2) + np.roll(x, -1, axis=2)) / 3
            x = x[:, :, ::-1]
        return np.ascontiguousarray(x), rng.integers(0, CLASSES, BATCH)


def conv_model():
    inputs = keras.Input((SIDE, SIDE, CHANNELS))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def epoch_seconds(model, dataset):
    start = time.perf_counter()
    with EpochIterator(dataset) as iterator:
        for _, (x, y, _) in iterator.epoch():
            model.train_on_batch(x, y)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", type=int, default=40, help="augmentation passes per batch")
    args = parser.parse_args()
    model = conv_model()
    load_only = AugmentedImages(args.batches, args.passes)
    start = time.perf_counter()
    for i in range(args.batches):
        load_only[i]
    load_time = time.perf_counter() - start
    x, y = load_only[0]
    model.train_on_batch(x, y)  # warm up
    start = time.perf_counter()
    for _ in range(args.batches):
        model.train_on_batch(x, y)
    step_time = time.perf_counter() - start
    print(f"{args.batches} batches: loading alone {load_time:.3f} s, steps alone {step_time:.3f} s")
    for workers in (1, 2, 4):
        dataset = AugmentedImages(args.batches, args.passes, workers=workers, max_queue_size=8)
        best = min(epoch_seconds(model, dataset) for _ in range(args.repeats))
        print(f"workers={workers}: epoch {best:.3f} s (best of {args.repeats})")


if __name__ == "__main__":
    main()
