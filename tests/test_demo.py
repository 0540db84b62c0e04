"""`itbot demo` is the README's first command: it must run end to end and exit 0."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_scripted_tour_and_every_expectation_holds(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ana Lima → itbot (DM): hi" in result.stdout
    assert "itbot → DM with Ana Lima: Hi @Ana Lima!" in result.stdout
    assert "✗" not in result.stdout and "every expectation held" in result.stdout
    assert not list(Path(tmp_path).glob("*.db")), "the demo must not leave a database behind"
