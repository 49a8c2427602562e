"""Where commands look for a node, and what `make demo` does before anything else: real `kanim`
processes in an empty folder with none of the caller's KANIM_* settings, as an operator's shell
would have them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kanim.ops.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def kanim(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "kanim", *args], cwd=cwd, env=clean, capture_output=True, text=True,
                          timeout=60)


@contextmanager
def listening(port: int) -> Iterator[None]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield


READ_COMMANDS = [
    ["link", "status"], ["link", "dead-letters"], ["link", "retry", "x"], ["link", "key"], ["worker"],
    ["audit", "verify"], ["db", "current"], ["user", "add", "rina", "--role", "cashier", "--password", "long-enough-pw"],
    ["central", "key"], ["central", "rebuild"],
]


def test_a_command_that_reads_a_node_says_where_it_looked_and_makes_none(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as pool:  # one interpreter start-up each: two at a time
        results = list(pool.map(lambda args: kanim(tmp_path, *args), READ_COMMANDS))
    for args, r in zip(READ_COMMANDS, results, strict=True):
        said = f"kanim {' '.join(args)}: {r.returncode} {r.stdout!r} {r.stderr!r}"
        assert r.returncode == 2, said
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: no kanim node at "), said
        assert str(tmp_path / "data") in r.stderr and "KANIM_DATA_DIR not set" in r.stderr, said
        assert "kanim db upgrade" in r.stderr, said
    assert list(tmp_path.iterdir()) == []  # no ./data, no key, no empty database


def test_db_upgrade_makes_a_node_that_the_other_commands_then_open(tmp_path: Path) -> None:
    assert kanim(tmp_path, "db", "upgrade").returncode == 0
    r = kanim(tmp_path, "user", "add", "rina", "--role", "cashier", "--password", "long-enough-pw")
    assert r.returncode == 0 and "added rina" in r.stdout, r.stderr
    assert kanim(tmp_path, "audit", "verify").returncode == 0


def test_link_status_says_no_central_configured_when_none_is(tmp_path: Path) -> None:
    assert kanim(tmp_path, "db", "upgrade").returncode == 0
    r = kanim(tmp_path, "link", "status")
    assert r.returncode == 0 and "no central configured" in r.stdout and " up " not in r.stdout, r.stdout
    st = json.loads(kanim(tmp_path, "link", "status", "--json").stdout)
    assert st["central"] is None and st["state"].startswith("no central configured"), st


def test_a_taken_office_port_is_said_in_one_line_before_the_demo_does_anything(tmp_path: Path) -> None:
    port = free_port()
    with listening(port):
        r = kanim(tmp_path, "demo", "--dir", str(tmp_path / "demo"), "--port", str(port),
                  "--central-port", str(free_port()))
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert r.stderr.count("\n") == 1 and f"port {port} on 127.0.0.1 is already in use" in r.stderr, r.stderr
    assert "PORT=" in r.stderr and not (tmp_path / "demo").exists()


def test_a_taken_central_port_is_said_in_one_line_before_the_demo_does_anything(tmp_path: Path) -> None:
    central = free_port()
    with listening(central):
        r = kanim(tmp_path, "demo", "--dir", str(tmp_path / "demo"), "--port", str(free_port()),
                  "--central-port", str(central))
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert r.stderr.count("\n") == 1 and f"port {central} on 127.0.0.1 is already in use" in r.stderr
    assert "central" in r.stderr and "CENTRAL_PORT=" in r.stderr and not (tmp_path / "demo").exists()


def test_a_taken_port_is_said_in_one_line_before_serve_starts(tmp_path: Path) -> None:
    port = free_port()
    with listening(port):
        r = kanim(tmp_path, "serve", "--port", str(port))
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, (r.stdout, r.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr and list(tmp_path.iterdir()) == []


def test_the_demo_never_seeds_or_resets_a_folder_it_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "data"
    mine.mkdir()
    (mine / "kanim.db").write_text("someone's real office")
    r = kanim(tmp_path, "demo", "--dir", str(mine), "--port", str(free_port()), "--central-port", str(free_port()))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a kanim demo" in r.stderr, r.stderr
    r = kanim(tmp_path, "demo", "--reset", "--dir", str(mine))
    assert r.returncode == 2 and "not removing it" in r.stderr, r.stderr
    assert [p.name for p in mine.iterdir()] == ["kanim.db"] and (mine / "kanim.db").read_text() == "someone's real office"


def test_demo_reset_removes_only_a_demo_folder(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "office").mkdir(parents=True)
    (demo / ".kanim-demo").write_text("made by `kanim demo`\n")
    r = kanim(tmp_path, "demo", "--reset", "--dir", str(demo))
    assert r.returncode == 0 and "removed the demo" in r.stdout and not demo.exists(), (r.stdout, r.stderr)
    r = kanim(tmp_path, "demo", "--reset", "--dir", str(demo))
    assert r.returncode == 0 and "nothing to reset" in r.stdout


def _make_dry_run(target: str) -> str:
    assert shutil.which("make"), "`make demo` and `make test` need make"
    r = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_demo_installs_the_runtime_dependencies_only() -> None:
    demo = _make_dry_run("demo")
    assert "pip install --quiet -e ." in demo and "[dev]" not in demo, demo
    assert "kanim demo --dir .kanim-demo --host 127.0.0.1 --port 8000 --central-port 8001" in demo
    assert "[dev]" in _make_dry_run("test")
