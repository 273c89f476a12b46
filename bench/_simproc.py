"""Start ``joytui sim`` in its own process (so the benchmark client does not share its GIL)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sim_process(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Yield (base_url, process) of a simulator started with ``args``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "joytui", "sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = None
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while base_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before printing its config")
            match = re.search(r'base_url = "(http://127\.0\.0\.1:\d+)"', line)
            if match:
                base_url = match.group(1)
        if base_url is None:
            raise RuntimeError("the simulator printed no base_url")
        time.sleep(0.3)
        yield base_url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
