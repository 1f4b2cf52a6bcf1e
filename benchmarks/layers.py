"""Benchmark: conv-AE decoders (lecture 07) and the aekeras RBM vs scikit-learn (lecture 08).

In one run, on real MNIST, each number next to the baseline measured in the same run:

1. training-step time of one convolutional autoencoder with three decoders:
   `UpSampling2D` (baseline), switch max-unpooling (`MaxPoolingWithArgmax2D` /
   `MaxUnpooling2D`) and `Conv2DTranspose`: warm-up steps, then the median of N steps;
2. `aekeras.models.RBM` (persistent CD-1, as scikit-learn trains) vs scikit-learn's
   `BernoulliRBM` (baseline) with the same binarised subset, hidden units, epochs, batch size
   and learning rate, and the same batches in the same order (scikit-learn's `fit` cannot
   reshuffle, so Keras does not either: `aekeras.comparison.fit_in_order`): the mean
   pseudo-likelihood of the test images (the same flipped bits for both) and seconds per
   epoch. Keras's first epoch, which compiles the training step, is shown apart; the
   compared number is the mean of its later epochs against scikit-learn's fit time / epochs
   (it compiles nothing). The CPU and the Keras device are printed with the table.

Usage:

    python benchmarks/layers.py            # 60,000 images for the RBM, 50 timed steps
    python benchmarks/layers.py --quick    # 10,000 images, 10 timed steps
    python benchmarks/layers.py --threads 1  # one CPU thread for every library

Targets: switch unpooling within 1.5x of UpSampling2D; the aekeras RBM at least as fast per
epoch as scikit-learn, with a pseudo-likelihood no worse.
"""

import argparse
import os
import statistics
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a fast run")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: defaults)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def limit_threads(threads):
    """Same thread budget for TensorFlow, PyTorch, OpenMP and NumPy's BLAS (before imports)."""
    if threads > 0:
        for name in (
            "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
        ):  # fmt: skip
            os.environ[name] = str(threads)


# --- 1. conv autoencoder decoders ------------------------------------------------------


def conv_autoencoders():
    """The same conv encoder (two 3x3 conv + 2x2 max-pool stages) with three decoders."""
    import keras

    from aekeras.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D

    def encoder(x, with_switches):
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        if with_switches:
            h, switches_1 = MaxPoolingWithArgmax2D(2)(h)
        else:
            h, switches_1 = keras.layers.MaxPooling2D(2)(h), None
        h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
        if with_switches:
            h, switches_2 = MaxPoolingWithArgmax2D(2)(h)
        else:
            h, switches_2 = keras.layers.MaxPooling2D(2)(h), None
        return h, switches_1, switches_2  # code: (7, 7, 8)

    def output(h):
        return keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)

    def upsampling_decoder():
        x = keras.Input((28, 28, 1))
        h, _, _ = encoder(x, with_switches=False)
        h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
        h = keras.layers.UpSampling2D(2)(h)
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
        h = keras.layers.UpSampling2D(2)(h)
        return keras.Model(x, output(h), name="upsampling_decoder")

    def switch_unpooling_decoder():
        x = keras.Input((28, 28, 1))
        h, switches_1, switches_2 = encoder(x, with_switches=True)
        h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
        h = MaxUnpooling2D(2)([h, switches_2])
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
        h = MaxUnpooling2D(2)([h, switches_1])
        return keras.Model(x, output(h), name="switch_unpooling_decoder")

    def transpose_decoder():
        x = keras.Input((28, 28, 1))
        h, _, _ = encoder(x, with_switches=False)
        h = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
        h = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)
        return keras.Model(x, output(h), name="conv2d_transpose_decoder")

    return [upsampling_decoder(), switch_unpooling_decoder(), transpose_decoder()]


def bench_decoders(images, quick):
    """Median `train_on_batch` time of each model; the models take turns step by step, so
    a busy spell of the machine hits all of them alike."""
    steps, warmup, batch_size = (20, 3, 128) if quick else (100, 10, 128)
    models = conv_autoencoders()
    for model in models:
        model.compile(optimizer="adam", loss="binary_crossentropy")
    batches = [
        images[i : i + batch_size] for i in range(0, len(images) - batch_size + 1, batch_size)
    ]
    times = {model.name: [] for model in models}
    for step in range(warmup + steps):
        batch = batches[step % len(batches)]
        for model in models:
            start = time.perf_counter()
            model.train_on_batch(batch, batch)
            if step >= warmup:
                times[model.name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, batch_size, steps


# --- 2. RBM vs scikit-learn --------------------------------------------------------------


def fit_sklearn_rbm(train, test, config, seed):
    """scikit-learn's BernoulliRBM (PCD-1): (None, seconds per epoch, fit seconds, mean test PL)."""
    from sklearn.neural_network import BernoulliRBM

    from aekeras.comparison import fit_timed, whole_batches

    reference = BernoulliRBM(
        n_components=config["hidden"],
        learning_rate=config["lr"],
        batch_size=config["batch_size"],
        n_iter=config["epochs"],
        random_state=seed,
    )
    per_epoch = fit_timed(reference, whole_batches(train, config["batch_size"]))
    reference.random_state = seed  # the bits that score_samples flips
    return None, per_epoch, per_epoch * config["epochs"], reference.score_samples(test).mean()


def fit_aekeras_rbm(train, test, config, seed):
    """aekeras's RBM, persistent CD-1 as scikit-learn trains, in its order: (first epoch s,
    mean s of the later epochs, fit seconds, mean test PL)."""
    import keras

    from aekeras.comparison import epoch_seconds, fit_in_order
    from aekeras.models import RBM

    keras.utils.set_random_seed(seed)
    batch_size = config["batch_size"]
    rbm = RBM(train.shape[1], config["hidden"], persistent=True, n_chains=batch_size, seed=seed)
    # One update per call of the compiled step, as scikit-learn's loop takes one per batch
    # (steps_per_execution > 1 is refused by the PyTorch backend).
    rbm.compile(optimizer=keras.optimizers.SGD(config["lr"]))
    start = time.perf_counter()
    timer = fit_in_order(rbm, train, config["epochs"], batch_size)
    total = time.perf_counter() - start
    times = epoch_seconds(timer.times)
    pl = rbm.pseudo_likelihood(test, seed=seed).mean()
    return times["first"], times["later"], total, pl


def bench_rbm(train, test, config, seeds):
    """Both RBMs, taking turns, once per seed; per model the median times and the mean PL."""

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    runs = {"sklearn BernoulliRBM": [], "aekeras RBM (PCD-1)": []}
    for seed in seeds:
        runs["sklearn BernoulliRBM"].append(fit_sklearn_rbm(train, test, config, seed))
        runs["aekeras RBM (PCD-1)"].append(fit_aekeras_rbm(train, test, config, seed))
    return {
        name: (
            median(r[0] for r in rows),
            median(r[1] for r in rows),
            median(r[2] for r in rows),
            statistics.mean(r[3] for r in rows),
        )
        for name, rows in runs.items()
    }


def main(argv=None):
    args = parse_args(argv)
    limit_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import keras
    from threadpoolctl import threadpool_info

    from aekeras import datasets
    from aekeras.comparison import hardware

    if args.threads > 0 and keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)

    keras.utils.set_random_seed(args.seed)
    images = datasets.load_mnist()
    binary = datasets.load_mnist(flatten=True, binarize=True)
    print(f"backend: {keras.backend.backend()}; data: {images.source}; threads: "
          f"{args.threads or 'library defaults'}; quick: {args.quick}")  # fmt: skip

    n_images = 2048 if args.quick else 8192
    step, batch_size, steps = bench_decoders(images.x_train[:n_images], args.quick)
    baseline = step["upsampling_decoder"]
    print(f"\nConv autoencoder training step (batch {batch_size}, median of {steps} steps)")
    print(f"{'decoder':<28}{'ms / step':>12}{'x UpSampling2D':>16}")
    for name, seconds in step.items():
        print(f"{name:<28}{1000 * seconds:>12.1f}{seconds / baseline:>16.2f}")

    config = {"hidden": 256, "epochs": 3 if args.quick else 5, "batch_size": 100, "lr": 0.05}
    n_train = 10_000 if args.quick else 60_000
    train, test = binary.x_train[:n_train], binary.x_test[: 2000 if args.quick else 10_000]
    seeds = [args.seed] if args.quick else [args.seed, args.seed + 1]
    results = bench_rbm(train, test, config, seeds)
    _, ref_seconds, _, ref_pl = results["sklearn BernoulliRBM"]
    blas = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})
    print(
        f"\nBernoulli RBM: {n_train} binarised images, {config['hidden']} hidden units, "
        f"{config['epochs']} epochs, batch {config['batch_size']}, learning rate {config['lr']}, "
        f"seeds {seeds}; pseudo-likelihood on {len(test)} test images; BLAS {blas}"
    )
    print(
        f"{'model':<22}{'1st epoch s':>12}{'s / epoch':>10}{'x sklearn':>10}{'fit total s':>12}"
        f"{'pseudo-lik.':>12}{'- sklearn':>10}"
    )
    for name, (first, seconds, total, pl) in results.items():
        first = "-" if first is None else f"{first:.2f}"
        later = "-" if seconds is None else f"{seconds:.2f}"
        ratio = "-" if seconds is None else f"{seconds / ref_seconds:.2f}"
        print(
            f"{name:<22}{first:>12}{later:>10}{ratio:>10}{total:>12.1f}"
            f"{pl:>12.2f}{pl - ref_pl:>10.2f}"
        )
    machine = hardware()
    print("(s / epoch: scikit-learn's fit time / epochs, on the CPU; aekeras's mean over the")
    print(" epochs after the first, whose compilation is in '1st epoch s' and 'fit total s'.")
    print(f" Both saw the same batches in the same order. CPU: {machine['cpu']};")
    print(f" {machine['keras']}.)")

    verdicts = {
        "switch unpooling within 1.5x of UpSampling2D": step["switch_unpooling_decoder"]
        <= 1.5 * baseline,
        "aekeras RBM at least as fast per epoch": results["aekeras RBM (PCD-1)"][1] is not None
        and results["aekeras RBM (PCD-1)"][1] <= ref_seconds,
        "aekeras RBM pseudo-likelihood no worse": results["aekeras RBM (PCD-1)"][3] >= ref_pl,
    }
    print()
    for target, met in verdicts.items():
        print(f"{'met' if met else 'NOT met':>8}: {target}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
