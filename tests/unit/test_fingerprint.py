from __future__ import annotations

import cv2
import numpy as np
import pytest

from kanim.biometrics.fingerprint import (
    FingerException,
    FingerPosition,
    FingerprintPolicy,
    parse_position,
)
from kanim.biometrics.fingerprint import check_fingerprint as _check_fingerprint
from kanim.domain.errors import InvalidInput
from tests import photos

# The check itself, never the test process's memo of it (tests/conftest.py).
check_fingerprint = getattr(_check_fingerprint, "__wrapped__", _check_fingerprint)


def refusal(data: bytes, policy: FingerprintPolicy = FingerprintPolicy()) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_fingerprint(data, policy)
    return caught.value


def test_a_ridge_pattern_passes_and_is_stored_as_lossless_grayscale_png() -> None:
    report = check_fingerprint(photos.fingerprint_png())

    assert (report.width, report.height) == (400, 500)
    assert report.normalized_png.startswith(b"\x89PNG")
    stored = cv2.imdecode(np.frombuffer(report.normalized_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.shape == (500, 400) and stored.dtype == np.uint8
    assert np.array_equal(stored, photos.fingerprint_array())


def test_a_colour_scan_is_stored_as_grayscale() -> None:
    colour = cv2.cvtColor(photos.fingerprint_array(), cv2.COLOR_GRAY2BGR)
    ok, jpeg = cv2.imencode(".jpg", colour)

    report = check_fingerprint(jpeg.tobytes())

    stored = cv2.imdecode(np.frombuffer(report.normalized_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.ndim == 2


def test_a_file_over_the_size_limit_is_refused() -> None:
    error = refusal(photos.fingerprint_png(), FingerprintPolicy(max_bytes=10_000))

    assert error.code == "fingerprint-too-large"
    assert "10,000" in str(error)


def test_a_file_that_is_not_an_image_is_refused() -> None:
    assert refusal(photos.not_an_image()).code == "fingerprint-not-an-image"
    assert refusal(b"").code == "fingerprint-not-an-image"


def test_a_thumbnail_is_refused_for_resolution() -> None:
    ok, png = cv2.imencode(".png", photos.fingerprint_array()[:200, :180])

    error = refusal(png.tobytes())

    assert error.code == "fingerprint-resolution"
    assert "180x200" in str(error) and "256x256" in str(error)


def test_a_blank_scan_is_refused() -> None:
    error = refusal(photos.blank_png())

    assert error.code == "fingerprint-blank"
    assert error.extra["std"] < FingerprintPolicy().min_std


def test_positions_carry_the_iso_19794_4_codes_and_labels() -> None:
    assert [p.value for p in FingerPosition] == list(range(1, 11))
    assert FingerPosition(1).label == "right thumb"
    assert FingerPosition(5).label == "right little"
    assert FingerPosition(6).label == "left thumb"
    assert FingerPosition(10).label == "left little"


def test_finger_exceptions_are_the_three_reasons() -> None:
    assert {e.value for e in FingerException} == {"missing", "injured", "unreadable"}
    assert FingerException("injured") is FingerException.INJURED


@pytest.mark.parametrize(("value", "expected"), [
    (1, FingerPosition.RIGHT_THUMB),
    (10, FingerPosition.LEFT_LITTLE),
    ("7", FingerPosition.LEFT_INDEX),
    (" 3 ", FingerPosition.RIGHT_MIDDLE),
    ("right thumb", FingerPosition.RIGHT_THUMB),
    ("LEFT_RING", FingerPosition.LEFT_RING),
    (FingerPosition.RIGHT_RING, FingerPosition.RIGHT_RING),
])
def test_positions_parse_from_codes_and_names(value: int | str, expected: FingerPosition) -> None:
    assert parse_position(value) is expected


@pytest.mark.parametrize("value", [0, 11, -1, "0", "11", "thumb", "", "٣", True, 2.0, None])
def test_anything_else_is_not_a_position(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_position(value)  # type: ignore[arg-type]

    assert caught.value.code == "fingerprint-position"
    assert str(caught.value).startswith("finger position must be 1-10 (ISO/IEC 19794-4)")


def test_a_face_photo_is_refused_as_a_colour_image() -> None:
    from kanim.seed import face_photo

    for face in (face_photo(), photos.small_face_jpeg()):  # the seed's photo, skimage's astronaut
        error = refusal(face)
        assert error.code == "fingerprint-colour"
        assert error.extra["colour_share"] > FingerprintPolicy().max_colour_share


def test_a_greyscale_face_photo_is_refused_for_having_no_ridges() -> None:
    grey = cv2.cvtColor(photos.passport_photo(), cv2.COLOR_BGR2GRAY)
    ok, jpeg = cv2.imencode(".jpg", grey)

    error = refusal(jpeg.tobytes())

    assert error.code == "fingerprint-no-ridges"
    assert error.extra["ridge_share"] < FingerprintPolicy().min_ridge_share


def test_an_image_with_ridges_finer_than_any_finger_is_refused() -> None:
    """A 3 px period is 0.15 mm at 500 ppi: no finger has ridges that fine (a wrong scanner
    resolution, or a pattern that is not a print)."""
    ok, png = cv2.imencode(".png", photos.fingerprint_array(period=3.0))

    assert refusal(png.tobytes()).code == "fingerprint-no-ridges"


@pytest.mark.parametrize("period", [5.0, 9.0, 15.0])
def test_prints_across_the_plausible_ridge_periods_pass_and_report_their_period(period: float) -> None:
    ok, png = cv2.imencode(".png", photos.fingerprint_array(period=period))

    report = check_fingerprint(png.tobytes())

    assert report.ridge_share >= FingerprintPolicy().min_ridge_share
    assert report.ridge_period == pytest.approx(period, rel=0.25)


def test_a_noisy_light_press_still_passes() -> None:
    rng = np.random.default_rng(5)
    light = photos.fingerprint_array().astype(np.float32) * 0.1 + 200  # a tenth of the contrast
    noisy = np.clip(light + rng.normal(0, 2, light.shape), 0, 255).astype(np.uint8)
    ok, png = cv2.imencode(".png", noisy)

    assert check_fingerprint(png.tobytes()).ridge_share >= FingerprintPolicy().min_ridge_share


def test_the_seed_fingerprint_used_by_the_demo_and_the_benches_passes() -> None:
    from kanim.seed import fingerprint_image

    assert check_fingerprint(fingerprint_image()).width == 400
