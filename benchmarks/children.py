"""Starting and talking to `benchmarks.serve_child` processes."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


class ServingChild:
    """A serving process started with `python -m benchmarks.serve_child ROLE ...`.

    ``ready`` is the JSON line it printed when listening (url, signing_secret, pid).
    """

    def __init__(self, role: str, *args: str, repo_root: Path, startup_timeout: float = 60.0):
        self.role = role
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.serve_child", role, *args], cwd=repo_root,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, bufsize=1)
        self.ready: dict[str, Any] = {}
        try:
            self.ready = self._read_json(startup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return self.ready["url"]

    def ask(self, command: str, timeout: float = 10.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read_json(timeout)

    def _read_json(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not readable:
            raise RuntimeError(f"the {self.role} process did not answer within {timeout:g}s{self._stderr_tail()}")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.role} process exited (code {self.proc.wait(5)}){self._stderr_tail()}")
        return json.loads(line)

    def _stderr_tail(self, lines: int = 15) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read().strip().splitlines()[-lines:]
        return (":\n    " + "\n    ".join(tail)) if tail else ""

    def close(self) -> None:
        """Ask the process to stop; terminate it (this process only) if it does not within 10s."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "ServingChild":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
