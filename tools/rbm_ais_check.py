"""Is lecture 08's AIS fine enough? Its CD-1 and CD-10 RBMs, scored with both AIS schedules.

Trains the lecture's CD-1 and CD-10 RBMs as its `cpu` profile does (256 hidden units, SGD
0.1, batch 128, the same images in the same order, seed 0) and estimates each one's mean
test log-likelihood, log p(v) = -F(v) - log Ẑ, with AIS from the base-rate model at the
`cpu` profile's 1,450 intermediate distributions and at Salakhutdinov & Murray's (2008)
14,500, 100 runs each. log Ẑ underestimates log Z in expectation, so a coarse schedule errs
towards a too-high log-likelihood; the difference between the two rows says by how much.

    python tools/rbm_ais_check.py                     # the cpu profile's models
    AEKERAS_PROFILE=gpu python tools/rbm_ais_check.py # 500 hidden units, 20 epochs, 60,000 images
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    import keras

    from aekeras.ais import ais_betas, ais_log_partition, base_rate_bias, rbm_log_likelihood
    from aekeras.comparison import fit_in_order, whole_batches
    from aekeras.datasets import load_mnist
    from aekeras.models import RBM
    from aekeras.profiles import get_profile

    keras.utils.set_random_seed(0)
    profile = get_profile(os.environ.get("AEKERAS_PROFILE", "cpu"))
    data = load_mnist(flatten=True, binarize=True)
    x_train = whole_batches(data.x_train[: profile.n_train(60_000)], profile.batch_size)
    x_test = data.x_test[: profile.n_test(10_000)]
    epochs, n_hidden = profile.epochs(20), 500 if profile.is_full else 256
    print(f"profile {profile.name}: {n_hidden} hidden units, {len(x_train):,} images, "
          f"{epochs} epoch(s), batch {profile.batch_size}; {keras.backend.backend()}")  # fmt: skip
    base = base_rate_bias(x_train)
    for name, k in (("CD-1", 1), ("CD-10", 10)):
        rbm = RBM(784, n_hidden, k=k, n_chains=profile.batch_size, seed=0)
        rbm.compile(optimizer=keras.optimizers.SGD(0.1))
        fit_in_order(rbm, x_train, epochs, profile.batch_size)
        for n_betas in (1_450, 14_500):
            start = time.monotonic()
            estimate = ais_log_partition(
                rbm, n_runs=100, betas=ais_betas(n_betas), base_bias=base, seed=0
            )
            log_lik = rbm_log_likelihood(rbm, x_test, estimate.log_z)
            print(f"{name}: {n_betas:,} distributions, 100 runs: log Z {estimate.log_z:.2f}, "
                  f"test log-likelihood {log_lik:.2f}, sd of log w "
                  f"{estimate.log_weights.std():.2f} ({time.monotonic() - start:.0f} s)",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
