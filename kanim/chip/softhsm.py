"""A SoftHSM2 token in a folder of its own, for the tests and the demo (a real office uses its
HSM's own tools; docs/chip.md). SoftHSM2 finds its tokens through SOFTHSM2_CONF, so a node that
uses such a token must have that variable set before the PKCS#11 module is first loaded."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from kanim.chip.signer import find_module


def available() -> str | None:
    """Why SoftHSM2 cannot be used here, or None when it can."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not installed (apt-get install softhsm2)"
    if find_module() is None:
        return "the SoftHSM2 PKCS#11 module (libsofthsm2.so) is not installed"
    return None


def init_token(folder: Path, *, label: str, pin_file: Path) -> Path:
    """Create a token labelled `label` under `folder`; its user PIN goes to `pin_file` (0600).
    Returns the configuration file to put in SOFTHSM2_CONF."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    pin = secrets.token_hex(8)
    pin_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pin)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                    "--so-pin", secrets.token_hex(8), "--pin", pin],
                   check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return conf
