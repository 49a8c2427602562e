"""Whose relay lease may be taken over at once: only a holder on this very machine (host name,
boot and process namespace) whose process is gone."""

from __future__ import annotations

import os
import subprocess
import sys

from kanim.link import lease


def gone_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_holder_here_whose_process_is_gone_need_not_be_waited_out() -> None:
    assert lease._died_here(f"{lease._HOST}:{gone_pid()}:{lease._MACHINE}:abcd1234")


def test_a_live_holder_here_is_waited_out() -> None:
    assert not lease._died_here(f"{lease._HOST}:{os.getpid()}:{lease._MACHINE}:abcd1234")


def test_a_holder_in_another_container_with_the_same_host_name_is_trusted_until_its_lease_ends() -> None:
    assert not lease._died_here(f"{lease._HOST}:{gone_pid()}:othermachine:abcd1234")


def test_a_holder_on_another_host_or_of_an_older_release_is_trusted_until_its_lease_ends() -> None:
    assert not lease._died_here(f"elsewhere:{gone_pid()}:{lease._MACHINE}:abcd1234")
    assert not lease._died_here(f"{lease._HOST}:{gone_pid()}:abcd1234")  # host:pid:id, before the machine id
