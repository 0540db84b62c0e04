"""The built wheel works on its own: installed into a fresh venv, `itbot` runs from any directory with the
configuration packaged inside it (no ./config, no checkout on the path)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "workflows", "connectors", "config", "pyproject.toml", "setup.py", "README.md", "LICENSE")
pytestmark = pytest.mark.slow


def _run(args: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel from a copy of the sources (the checkout stays clean), then install it, without its
    dependencies, into a fresh venv that borrows this interpreter's installed packages for those."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("ITBOT_")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", src], root, env)
    wheels = list((root / "dist").glob("itbot-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root, env)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root,
                     env).stdout.strip())
    # the dependencies (and pip) from this venv; a path line in a .pth does not run that directory's .pth
    # files, so this venv's editable install of the checkout stays out of sight
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_borrowed_deps.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed", wheels[0]], root, env)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere, {**env, "HOME": str(elsewhere)}


def test_the_wheel_ships_the_code_and_its_configuration(installed):
    venv, cwd, env = installed
    where = _run([venv / "bin" / "python", "-c", "import bot, bot.settings as s; print(bot.__file__); "
                  "print(s.Settings.from_env({}, require_slack=False).config_dir)"], cwd, env).stdout.split()
    assert where[0].startswith(str(venv)), where
    assert where[1] == str(Path(where[0]).parent / "default_config"), where


def test_itbot_version_is_the_projects(installed):
    venv, cwd, env = installed
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert _run([venv / "bin" / "itbot", "--version"], cwd, env).stdout.strip() == f"itbot {version}"


def test_check_config_and_demo_run_from_any_directory(installed):
    venv, cwd, env = installed
    checked = _run([venv / "bin" / "itbot", "check-config"], cwd, env)
    assert "default_config" in checked.stdout and "is valid" in checked.stdout, checked.stdout
    demo = _run([venv / "bin" / "itbot", "demo"], cwd, env, timeout=120)
    assert "every expectation held" in demo.stdout
    assert not list(cwd.glob("*.db"))
