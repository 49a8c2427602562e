"""What the e2e tests ask of the machine's processes."""

from __future__ import annotations

from pathlib import Path


def nodes_left_running(root: Path) -> list[str]:
    """Processes whose KANIM_DATA_DIR lies under `root`: nodes a run should have stopped."""
    left = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(b"KANIM_DATA_DIR=" + str(root).encode()) for e in environ):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            left.append(f"{proc.name}: {cmdline}")
    return left
