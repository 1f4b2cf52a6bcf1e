"""Lecture 02's deep autoencoder, trained on all of MNIST with a stated recipe (issue 14, item 0).

Trains ``models.dense_autoencoder(784, (1000, 500, 250), 30)`` on the 60,000 training images
with binary cross-entropy, Adam and a learning-rate schedule, and prints the paper's measure
every ``--eval-every`` epochs: the squared error per MNIST test image, summed over the 784
pixels (Hinton & Salakhutdinov 2006, Fig. 2: 3.00 for this network, 13.87 for PCA-30). The
same arithmetic runs on a CPU or a GPU; only the time differs.

    python tools/deep_ae_recipe.py --epochs 200 --schedule cosine      # the `gpu` recipe
    python tools/deep_ae_recipe.py --epochs 50 --schedule constant     # the old recipe

Writes ``build/deep_ae_recipe-<schedule>-<epochs>.json`` with the curve and the settings.
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
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of Adam")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="cosine")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from aekeras import datasets, models

    keras.utils.set_random_seed(args.seed)
    data = datasets.load_mnist(flatten=True)
    x_train, x_test = data.x_train, data.x_test
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    lr = (
        keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps, alpha=0.0)
        if args.schedule == "cosine"
        else args.lr
    )
    model = models.dense_autoencoder(input_dim=784, hidden=(1000, 500, 250), code_dim=30)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy")
    curve, start = [], time.monotonic()

    class Measure(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % args.eval_every and epoch + 1 != args.epochs:
                return
            x_hat = self.model.predict(x_test, batch_size=1024, verbose=0)
            sse = float(np.mean(np.sum((x_test - x_hat) ** 2, axis=1)))
            seconds = time.monotonic() - start
            curve.append({"epoch": epoch + 1, "test_sse": sse, "loss": logs["loss"], "s": seconds})
            print(f"epoch {epoch + 1}: test squared error per image {sse:.3f} ({seconds:.0f} s)",
                  flush=True)  # fmt: skip

    model.fit(x_train, x_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              shuffle=True, callbacks=[Measure()])  # fmt: skip
    out = os.path.join(ROOT, "build", f"deep_ae_recipe-{args.schedule}-{args.epochs}.json")
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
