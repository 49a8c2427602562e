"""An electronic passport from walk-in to handover against a running `kanim serve` whose
Document Signer key is in a real SoftHSM2 token; its chip image is then exported and checked by
`kanim chip verify` as separate processes, the way an office's IT and a border would. (A
tampered DG2, an expired or revoked Document Signer: tests/integration/test_chip_softhsm.py.)"""

from __future__ import annotations

import os
import subprocess

import pytest

from kanim.chip import softhsm
from kanim.config import Settings
from kanim.ops import demo_chip
from tests import photos
from tests.e2e import conftest as e2e
from tests.e2e.desks import file, get_app, interview, intake, ok, pay, person, wait_for

pytestmark = pytest.mark.skipif(softhsm.available() is not None, reason=f"SoftHSM2: {softhsm.available()}")
e2e.CONFIGS["chip"] = e2e.ServerConfig("chip", central="simulated", chip_required=True)


@pytest.fixture(scope="module")
def chip_server(server_pool):  # noqa: ANN001, ANN201
    data = server_pool.root / "chip" / "data"
    before = os.environ.get("SOFTHSM2_CONF")
    # The server loads the token's module at its first print: it only needs the path at start.
    os.environ["SOFTHSM2_CONF"] = str(demo_chip.token_conf(data))
    try:
        server = server_pool.get("chip")
        said = demo_chip.set_up(server_pool.root / "chip", Settings(_env_file=None, data_dir=data, office_code="MND",
                                                                    database_url=None))
        assert said.startswith("chips: signed by a Document Signer in a SoftHSM2 token"), said
        yield server
    finally:
        if before is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = before


def test_an_electronic_passport_is_handed_over_with_a_chip_a_border_would_accept(chip_server, tmp_path) -> None:  # noqa: ANN001
    server = chip_server
    who = person("M", name="Budi Santoso")
    app = ok(server.desk("front_desk").post("/walk-ins", json=who.applicant(passport_kind="electronic")), 201)
    app_id = app["id"]
    intake(server, app_id)
    pay(server, app_id)
    bio = server.desk("biometric_operator")
    ok(bio.put(f"/applications/{app_id}/fingerprints/1", files=file(photos.fingerprint_png(), "f.png", "image/png")), 201)
    ok(bio.put(f"/applications/{app_id}/photo", files=file(photos.passport_photo_jpeg(), "face.jpg", "image/jpeg")), 201)
    for pos in range(2, 11):
        ok(bio.post(f"/applications/{app_id}/fingerprints/{pos}/exception", json={"exception": "unreadable"}), 201)
    ok(bio.post(f"/applications/{app_id}/capture"))
    interview(server, app_id)
    ok(server.desk("supervisor").post(f"/applications/{app_id}/approve"))
    printer = server.desk("print_operator")
    printed = ok(printer.post(f"/applications/{app_id}/print", json={}))
    ok(printer.post(f"/applications/{app_id}/quality-check", json={"passed": True}))  # Passive Authentication inside
    wait_for("the link thread to make the passport ready", lambda: get_app(server, app_id)["stage"] == "ready")
    who_ = {"recipient_kind": "holder", "recipient_name": who.full_name, "id_checked": "KTP", "id_nik": who.nik}
    assert ok(server.desk("pickup_desk").post(f"/applications/{app_id}/handover", json=who_))["stage"] == "handed_over"
    outbox = wait_for("every outbox row pushed", lambda: (o := ok(server.desk("admin").get("/outbox"))["by_status"])
                      .get("pending", 0) == 0 and o)
    assert outbox.get("dead", 0) == 0, outbox  # ChipPersonalised went to the central like every other row

    env = e2e._clean_env(data_dir=str(server.data_dir), office_code="MND")
    out = tmp_path / "chip"
    exported = subprocess.run(e2e._kanim_command("chip", "export", app_id, "--out", str(out)), env=env,
                              cwd=tmp_path, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    assert f"chip image of booklet {printed['booklet_serial']}" in exported.stdout
    assert sorted(p.name for p in out.iterdir()) == ["DG1.bin", "DG2.bin", "DG3.bin", "EF.COM", "EF.SOD", "manifest.json"]
    csca = server_pool_csca(server)
    verified = subprocess.run(e2e._kanim_command("chip", "verify", str(out), "--csca", str(csca)), env=env,
                              cwd=tmp_path, capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stdout.startswith("VALID: passive authentication passed (DG1, DG2, DG3;"), \
        verified.stdout + verified.stderr
    line1, line2 = printed["mrz"]
    assert (line1 + line2).encode() in (out / "DG1.bin").read_bytes()


def server_pool_csca(server):  # noqa: ANN001, ANN201
    return server.data_dir.parent / demo_chip.CSCA_DIR / "csca.pem"
