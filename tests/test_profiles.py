"""Run budgets: the environment variable picks the profile; sizes and epochs scale."""

import pytest

from aekeras import profiles


def test_named_profiles(monkeypatch):
    for name in ("smoke", "cpu", "gpu"):
        monkeypatch.setenv(profiles.PROFILE_ENV, name)
        assert profiles.get_profile().name == name


def test_auto_picks_by_gpu(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.setattr(profiles, "gpu_visible", lambda: False)
    assert profiles.get_profile().name == "cpu"
    monkeypatch.setattr(profiles, "gpu_visible", lambda: True)
    assert profiles.get_profile("auto").name == "gpu"


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="must be one of .* Received: 'ci'"):
        profiles.get_profile("ci")


def test_sizes_and_epochs_scale():
    smoke, cpu, gpu = (profiles.PROFILES[n] for n in ("smoke", "cpu", "gpu"))
    assert smoke.n_train(60_000) < cpu.n_train(60_000) < gpu.n_train(60_000) == 60_000
    assert smoke.n_train(100) == 100  # never more than there is
    assert smoke.epochs(50) == 1
    assert 1 <= cpu.epochs(50) <= 10 < gpu.epochs(50) == 50
    assert gpu.is_full and not cpu.is_full and not smoke.is_full


def test_datasets_cap():
    smoke, cpu, gpu = (profiles.PROFILES[n] for n in ("smoke", "cpu", "gpu"))
    names = ["basic", "rot", "bg-rand", "rect"]
    assert smoke.datasets(names) == ("basic",)
    assert cpu.datasets(names) == gpu.datasets(names) == tuple(names)


def test_disentanglement_budgets_scale():
    smoke, cpu, gpu = (
        profiles.disentanglement_budget(profiles.PROFILES[n]) for n in ("smoke", "cpu", "gpu")
    )
    assert smoke.seeds == 1 and cpu.seeds == gpu.seeds == 3
    assert smoke.n_images < cpu.n_images < gpu.n_images <= 3 * 6 * 40 * 32 * 32
    assert smoke.epochs == 1 < cpu.epochs <= gpu.epochs and gpu.size == 64
