"""`kanim demo` as a real process (what `make demo` runs: a real central beside the office, two
more processes) on free ports in a temporary folder, and what it printed: the staff accounts,
the spare people of the civil registry, the URLs."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from kanim.ops.drill_desks import Person

START_TIMEOUT = 120.0  # seeding included; the demo's own steps are bounded well below this
STOP_TIMEOUT = 30.0


class DemoRun:
    """One `kanim demo` process and the lines it printed."""

    def __init__(self, root: Path, port: int, central_port: int, sink_port: int) -> None:
        self.root, self.port, self.central_port, self.sink_port = root, port, central_port, sink_port
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> DemoRun:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
        env["COLUMNS"] = "200"  # the tables as a wide terminal shows them
        cmd = [sys.executable, "-m", "kanim", "demo", "--dir", str(self.root), "--port", str(self.port),
               "--central-port", str(self.central_port), "--sink-port", str(self.sink_port)]
        self.proc = subprocess.Popen(cmd, cwd=self.root.parent, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not any(line.startswith("data kept in") for line in self.lines):
            assert self.proc.poll() is None, f"the demo exited with {self.proc.returncode}:\n{self.output}"
            assert time.monotonic() < deadline, f"the demo did not serve within {START_TIMEOUT:.0f} s:\n{self.output}"
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def rows(self) -> list[list[str]]:
        return [[c.strip() for c in line.strip().strip("│").split("│")] for line in self.lines if line.count("│") >= 3]

    def accounts(self) -> dict[tuple[str, str], str]:
        """(node, username) → password, as the demo printed them."""
        return {(r[0], r[1]): r[3] for r in self.rows() if len(r) == 4 and r[0] in ("office", "central")}

    def spare_people(self) -> list[Person]:
        from kanim.seed import kk_number

        return [Person(r[0], r[1], date.fromisoformat(r[2]), r[3], kk_number(r[1]), walk_in=True, app_type="new",
                       passport_kind="ordinary")
                for r in self.rows() if len(r) == 4 and re.fullmatch(r"\d{16}", r[1])]

    def url(self, line_start: str) -> str:
        line = next(line for line in self.lines if line.startswith(line_start))
        return line.split()[1]

    def interrupt(self) -> int:
        """Ctrl-C, as a newcomer stops it."""
        assert self.proc
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the demo did not stop within {STOP_TIMEOUT:.0f} s of Ctrl-C:\n{self.output}") from None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # unwinds like Ctrl-C: the demo stops its nodes
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT)
