"""Access to the host the agent watches: files under a root prefix and allow-listed commands.

Every file read and every command goes through a `Machine`, so tests can point the agent at a
folder that holds a whole fake host (`--root`) and a `PATH` of stand-in programs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

# Programs the agent may run. All of them only read; none changes the host.
ALLOWED_PROGRAMS = frozenset(
    {"zpool", "zfs", "pvesh", "pveversion", "apt", "qm", "pct", "smartctl"}
)

DEFAULT_TIMEOUT_S = 20.0


class SourceError(Exception):
    """A data source failed; the message is the one-line reason that goes into `errors`."""


class NotApplicable(Exception):
    """The source does not exist on this host (no ZFS, not a Proxmox host): not an error."""


class Machine:
    def __init__(self, root: str | os.PathLike[str] = "/", path: str | None = None) -> None:
        self.root = Path(root)
        self.path = path if path is not None else os.environ.get("PATH", os.defpath)
        # Counts every process spawned, so tests and benchmarks can hold the cost per cycle.
        self.spawned = 0
        self._spawn_lock = threading.Lock()  # guest-agent queries run in a few threads
        # State a collector keeps between cycles (previous /proc/stat counters, ZFS JSON support).
        self.memo: dict[str, object] = {}

    def file(self, path: str) -> Path:
        """The real location of an absolute host path under the root prefix."""
        return self.root / path.lstrip("/")

    def read(self, path: str) -> str:
        try:
            return self.file(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise SourceError(f"{path}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        return self.file(path).exists()

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.file(path)))
        except FileNotFoundError:
            return []

    def statvfs(self, path: str) -> os.statvfs_result:
        return os.statvfs(self.file(path))

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self.path)

    def run(
        self,
        argv: list[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run an allow-listed program with an argument list (never a shell) and return stdout.

        Raises NotApplicable when the program is not installed, SourceError when it fails,
        hangs past `timeout` (the whole process group is killed) or prints something unreadable.
        """
        status, out, err = self._spawn(argv, timeout=timeout, env=env)
        if status != 0:
            reason = _first_line(err) or f"exit status {status}"
            raise SourceError(f"{' '.join(argv[:3])}: {reason}")
        return out

    def run_status(self, argv: list[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, str]:
        """Like `run`, for a program whose exit status carries data rather than success
        (smartctl's is a bit mask of disk findings): `(status, stdout)` whatever the status.
        Not installed, not startable and timed out still raise as in `run`."""
        status, out, _ = self._spawn(argv, timeout=timeout, env=None)
        return status, out

    def _spawn(
        self, argv: list[str], *, timeout: float, env: dict[str, str] | None
    ) -> tuple[int, str, bytes]:
        program = argv[0]
        if program not in ALLOWED_PROGRAMS:
            raise SourceError(f"{program}: not an allowed program")
        executable = self.which(program)
        if executable is None:
            raise NotApplicable(f"{program} is not installed")
        command = " ".join(argv[:3])
        child_env = {"PATH": self.path, "LC_ALL": "C", "LANG": "C"}
        if env:
            child_env.update(env)
        with self._spawn_lock:
            self.spawned += 1
        try:
            proc = subprocess.Popen(
                [executable, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env,
                start_new_session=True,
            )
        except OSError as exc:
            raise SourceError(f"{command}: cannot start: {exc.strerror or exc}") from exc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SourceError(f"{command}: timed out after {timeout:g} s") from None
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError:
            text = out.decode("utf-8", errors="replace")
        return proc.returncode, text, err


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""
