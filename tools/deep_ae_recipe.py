"""Lecture 02's deep autoencoder, trained on all of MNIST with a stated recipe (issue 14, item 0).

Trains ``models.dense_autoencoder(784, (1000, 500, 250), 30)`` on the 60,000 training images
with binary cross-entropy, Adam and a learning-rate schedule, and prints the paper's measure
every ``--eval-every`` epochs: the squared error per MNIST test image, summed over the 784
pixels (Hinton & Salakhutdinov 2006, Fig. 2: 3.00 for this network, 13.87 for PCA-30), and
the same on the first 10,000 training images. The same arithmetic runs on a CPU or a GPU;
only the time differs.

    python tools/deep_ae_recipe.py                                      # the `gpu` recipe
    python tools/deep_ae_recipe.py --activation relu --epochs 30       # the same with ReLU
    python tools/deep_ae_recipe.py --activation relu --epochs 50 --schedule constant  # the old one

The `gpu` recipe (the defaults): GELU hidden units, Adam with a peak learning rate of 1e-3
and cosine decay to 0, batch 256, 60 epochs. Writes ``build/deep_ae_recipe-<schedule>-
<epochs>[-<setting><value>...].json`` with the curve and the settings (every setting that
differs from the defaults is in the name).
"""

import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of Adam")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="cosine")
    parser.add_argument(
        "--warmup", type=int, default=0, help="epochs of linear warm-up to --lr (cosine only)"
    )
    parser.add_argument("--activation", default="gelu", help="activation of the hidden layers")
    parser.add_argument(
        "--loss", choices=("binary_crossentropy", "mse"), default="binary_crossentropy"
    )
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from aekeras import datasets, models

    keras.utils.set_random_seed(args.seed)
    data = datasets.load_mnist(flatten=True)
    x_train, x_test = data.x_train, data.x_test
    per_epoch = -(-len(x_train) // args.batch_size)
    warmup = args.warmup * per_epoch
    if args.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            args.lr / 100 if warmup else args.lr,
            decay_steps=args.epochs * per_epoch - warmup,
            alpha=0.0,
            warmup_target=args.lr if warmup else None,
            warmup_steps=warmup,
        )
    else:
        lr = args.lr
    model = models.dense_autoencoder(
        input_dim=784, hidden=(1000, 500, 250), code_dim=30, activation=args.activation
    )
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=args.loss)
    x_train_part = x_train[:10000]
    curve, start = [], time.monotonic()

    class Measure(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % args.eval_every and epoch + 1 != args.epochs:
                return
            x_hat = self.model.predict(x_test, batch_size=1024, verbose=0)
            sse = float(np.mean(np.sum((x_test - x_hat) ** 2, axis=1)))
            x_hat = self.model.predict(x_train_part, batch_size=1024, verbose=0)
            train_sse = float(np.mean(np.sum((x_train_part - x_hat) ** 2, axis=1)))
            seconds = time.monotonic() - start
            curve.append({"epoch": epoch + 1, "test_sse": sse, "train_sse": train_sse,
                          "loss": logs["loss"], "s": seconds})  # fmt: skip
            print(f"epoch {epoch + 1}: squared error per image, test {sse:.3f}, "
                  f"train {train_sse:.3f} ({seconds:.0f} s)", flush=True)  # fmt: skip

    model.fit(x_train, x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              shuffle=True, callbacks=[Measure()])  # fmt: skip
    tag = f"{args.schedule}-{args.epochs}"
    for key, default in (("activation", "gelu"), ("batch_size", 256), ("lr", 1e-3), ("warmup", 0),
                         ("loss", "binary_crossentropy"), ("seed", 0)):  # fmt: skip
        if getattr(args, key) != default:
            tag += f"-{key}{getattr(args, key)}"
    out = os.path.join(ROOT, "build", f"deep_ae_recipe-{tag}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    facts = {
        **vars(args),
        "backend": keras.backend.backend(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "data": data.source,
        "curve": curve,
    }
    with open(out, "w") as f:
        json.dump(facts, f, indent=1)
    best = min(curve, key=lambda c: c["test_sse"])
    print(f"final {curve[-1]['test_sse']:.3f}, lowest {best['test_sse']:.3f} at epoch "
          f"{best['epoch']} (paper: 3.00); {out}")  # fmt: skip


if __name__ == "__main__":
    main()
