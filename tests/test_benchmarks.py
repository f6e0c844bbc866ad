"""Smoke test: the race script runs end to end with tiny settings and prints its table."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_race_runs_with_tiny_settings(tmp_path):
    md = tmp_path / "race.md"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "race.py"), "--rounds", "1", "--iters", "20",
        "--train-size", "500", "--only", "book", "dlzero", "--markdown", str(md),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = md.read_text()
    assert "| book (ch. 5 script) |" in text and "| dlzero train |" in text
    assert "BLAS floor" in text and "1.00x |" in text  # dlzero against itself
    assert "W: 20 iterations, 500 training images, 1 rounds" in text
