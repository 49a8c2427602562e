"""The link and central commands as an operator types them: real `kanim` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def kanim(data_dir: Path, *args: str, role: str = "office") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANIM_")}
    env.update(KANIM_DATA_DIR=str(data_dir), KANIM_ROLE=role, KANIM_OFFICE_CODE="MND",
               KANIM_DATABASE_URL=f"sqlite:///{data_dir / 'kanim.db'}")
    return subprocess.run([sys.executable, "-m", "kanim", *args], env=env, cwd=data_dir, capture_output=True,
                          text=True, timeout=60)


def test_an_operator_links_an_office_to_the_central_with_the_cli(tmp_path) -> None:  # noqa: ANN001
    central, office = tmp_path / "central", tmp_path / "office"
    central.mkdir()
    office.mkdir()
    # Each node is made once, explicitly; every other command opens the node that is there.
    assert kanim(office, "db", "upgrade").returncode == 0
    assert kanim(central, "db", "upgrade", role="central").returncode == 0

    office_key = kanim(office, "link", "key").stdout.strip()
    central_key = kanim(central, "central", "key", role="central").stdout.strip()
    assert len(office_key) == 44 and len(central_key) == 44 and office_key != central_key

    r = kanim(central, "central", "office", "add", "MND", office_key, "--name", "Kanim Manado", role="central")
    assert r.returncode == 0 and "MND registered" in r.stdout, r.stderr
    bad = kanim(central, "central", "office", "add", "SBY", "not-a-key", role="central")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "office-key" in bad.stderr

    csv = central / "dukcapil.csv"
    csv.write_text("nik,full_name,birth_date,sex\n3171014508900001,Siti Rahmawati,1990-08-05,F\n")
    assert "1 records loaded" in kanim(central, "central", "registry", "load", str(csv), role="central").stdout
    broken = central / "broken.csv"
    broken.write_text("nik,full_name,birth_date,sex\n3171014508900002,Budi,05-08-1990,M\n")
    r = kanim(central, "central", "registry", "load", str(broken), role="central")
    assert r.returncode == 2 and "broken.csv:2" in r.stderr and r.stderr.count("\n") == 1

    r = kanim(central, "central", "booklets", "allocate", "MND", "X1000001", "X1000010", role="central")
    assert "10 booklets X1000001..X1000010 allocated to MND" in r.stdout, r.stderr
    overlap = kanim(central, "central", "booklets", "allocate", "MND", "X1000005", "X1000020", role="central")
    assert overlap.returncode == 2 and "allocation-overlap" in overlap.stderr

    bank = central / "bank.csv"
    bank.write_text("billing_code,amount,paid_at,reference\n812345678901234,350000,2026-11-30T09:00:00+07:00,B1\n")
    r = kanim(central, "central", "payments", "import", str(bank), role="central")
    assert r.returncode == 0 and "'issues': 1" in r.stdout  # a code no office has sent yet: kept, listed

    assert "rebuild requested" in kanim(central, "central", "rebuild", role="central").stdout
    assert "rebuild window closed" in kanim(central, "central", "rebuild", "--done", role="central").stdout

    status = kanim(office, "link", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["queue_depth"] == 0
    assert "0 dead letters" in kanim(office, "link", "dead-letters").stdout
    retry = kanim(office, "link", "retry", "no-such-operation")
    assert retry.returncode == 2 and "not a dead letter" in retry.stderr
