"""tools/gpu_check.sh runs (here on the CPU path, or on a GPU): it cannot rot before a GPU run."""

import os
import subprocess
import sys

import pytest

from tests import ROOT


@pytest.mark.grading
@pytest.mark.slow
def test_gpu_check_quick_grades_and_reports(tmp_path):
    out = tmp_path / "gpu-report.md"
    env = dict(os.environ, PYTHON=os.environ.get("PYTHON") or sys.executable)
    result = subprocess.run(
        # The cheapest assignment and lecture keep the suite short; a GPU run uses 07 (its ties).
        ["bash", os.path.join(ROOT, "tools", "gpu_check.sh"), "--quick", "--out", str(out)]
        + ["--assignments", "01_pca", "--lectures", "01"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    text = out.read_text()
    assert "- device: " in text
    if "no GPU visible" not in text:
        assert "NVIDIA" in text or "GPU" in text
    # one backend graded: solution full marks, release 0, mistake partial, all ok
    rows = [line for line in text.splitlines() if "| 01_pca |" in line]
    assert len(rows) == 1, text
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    backend, _, solution, released, mistake, full, seconds, verdict = cells
    assert verdict == "ok", text
    assert float(solution) == float(full) > 0 and float(released) == 0
    assert 0 < float(mistake) < float(full)
    assert float(seconds) > 0
    # the lecture was run and timed under the smoke profile
    assert f"| {backend} | 01 | smoke |" in text and text.rstrip().endswith("| ok |"), text
