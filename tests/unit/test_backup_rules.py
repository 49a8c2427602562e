"""The backup's pure parts: paper keys, sealed boxes, packs, snapshot choice, health warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kanim.backup import crypto, paper
from kanim.backup.drills import health_warnings
from kanim.backup.format import PackWriter, chosen, open_manifest, pack_key, read_blob, seal_manifest, timed_name

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def test_a_paper_key_reads_back_through_spaces_case_and_lookalike_digits() -> None:
    key = bytes(range(32))
    text = paper.encode(key)
    assert paper.decode(text.lower().replace("-", " ")) == key
    assert paper.decode(text.replace("O", "0").replace("I", "1")) == key


def test_a_paper_key_with_one_wrong_letter_is_refused_as_a_typo() -> None:
    text = paper.encode(bytes(32))
    wrong = ("B" if text[5] != "B" else "C").join([text[:5], text[6:]])
    with pytest.raises(paper.PaperKeyError, match="typo"):
        paper.decode(wrong)
    with pytest.raises(paper.PaperKeyError, match="not in a paper key"):
        paper.decode("AAAA-!!!!")


def test_a_sealed_box_opens_only_with_its_private_key_and_its_label() -> None:
    private, other = crypto.new_private_key(), crypto.new_private_key()
    box = crypto.seal(crypto.public_of(private), b"secret", b"label")
    assert crypto.open_sealed(private, box, b"label") == b"secret"
    with pytest.raises(crypto.DecryptError):
        crypto.open_sealed(other, box, b"label")
    with pytest.raises(crypto.DecryptError):
        crypto.open_sealed(private, box, b"another label")


def test_a_pack_gives_back_each_blob_and_refuses_one_read_under_another_id() -> None:
    private = crypto.new_private_key()
    pack = PackWriter(crypto.public_of(private))
    pack.add("a" * 64, b"x" * 5000, compress=True)
    pack.add("b" * 64, b"random-ish bytes", compress=False)
    name, data, entries = pack.finish()
    key = pack_key(private, data)
    (a, ao, al), (b, bo, bl) = entries
    assert al < 5000  # compressed
    assert read_blob(key, data, a, ao, al) == b"x" * 5000
    assert read_blob(key, data, b, bo, bl) == b"random-ish bytes"
    with pytest.raises(crypto.DecryptError):
        read_blob(key, data, b, ao, al)  # a's bytes passed off as b


def test_a_manifest_renamed_to_another_time_does_not_open() -> None:
    private = crypto.new_private_key()
    name, other = timed_name(NOW), timed_name(NOW + timedelta(hours=1))
    box = seal_manifest(crypto.public_of(private), name, {"format": 1, "files": []})
    assert open_manifest(private, name, box)["files"] == []
    with pytest.raises(crypto.DecryptError):
        open_manifest(private, other, box)


def test_the_snapshot_chosen_is_the_newest_at_or_before_the_time_asked() -> None:
    names = [timed_name(NOW + timedelta(minutes=m)) for m in (0, 1, 2)]
    assert chosen(names, None) == names[2]
    assert chosen(names, NOW + timedelta(seconds=90)) == names[1]
    assert chosen(names, NOW - timedelta(seconds=1)) is None


def test_health_warns_of_a_stale_backup_a_failed_drill_and_no_good_drill() -> None:
    limits = {"stale": timedelta(minutes=10), "drill_every": timedelta(days=7)}
    assert health_warnings(NOW, NOW - timedelta(minutes=1), (NOW, {"ok": True}), NOW, **limits) == []
    stale = health_warnings(NOW, NOW - timedelta(hours=3), (NOW, {"ok": True}), NOW, **limits)
    assert stale == ["the newest backup is 3 h old (limit 10 min)"]
    failed = health_warnings(NOW, NOW, (NOW, {"ok": False, "problem": "pack 1 damaged"}), NOW - timedelta(days=8),
                             **limits)
    assert failed == ["the last drill failed: pack 1 damaged", "the last good drill is 8 days old (limit 7 days)"]
    assert health_warnings(NOW, None, None, None, **limits) == [
        "no backup on this target yet", "no restore drill has passed yet (`kanim backup drill`)"]


def test_the_highest_number_per_day_counts_only_this_offices_well_formed_numbers() -> None:
    from datetime import date

    from kanim.protocol.numbers import highest_by_day

    numbers = ["MND-20261201-0007", "MND-20261201-0012", "MND-20261130-0003", "JKT-20261201-0099",
               "MND-1", "MND-20261341-0001", ""]
    assert highest_by_day("MND", numbers) == {date(2026, 12, 1): 12, date(2026, 11, 30): 3}


def test_numbers_skip_a_gap_only_on_the_days_lost_work_could_fall_on() -> None:
    from datetime import date

    from kanim.backup.rejoin import floors

    highest = {"2026-11-27": 40, "2026-11-30": 12}
    assert floors(highest, today=date(2026, 12, 1), gap=50) == {
        date(2026, 11, 27): 40, date(2026, 11, 30): 62, date(2026, 12, 1): 50}
    assert floors({}, today=date(2026, 12, 1), gap=0) == {date(2026, 12, 1): 0}
