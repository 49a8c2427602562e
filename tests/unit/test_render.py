from __future__ import annotations

import io
import re
import struct
from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from PIL import Image, features

from kanim.domain.errors import InvalidInput
from kanim.render import datapage, receipt
from kanim.render.datapage import PAGE_SIZE, PHOTO_BOX, render_data_page_png
from kanim.render.receipt import format_issued_at, qr_png, render_receipt_pdf
from tests import photos

MRZ = ("P<IDNCOLLINS<<EILEEN<MARIE<<<<<<<<<<<<<<<<<<<",
       "X1234567<4IDN5611192F3501026<<<<<<<<<<<<<<04")
FIELDS = {
    "type": "P",
    "code": "IDN",
    "passport_no": "X1234567",
    "name": "COLLINS, EILEEN MARIE",
    "nationality": "INDONESIA",
    "date_of_birth": "19 NOV 1956",
    "sex": "P/F",
    "place_of_birth": "SURABAYA",
    "date_of_issue": "02 JAN 2026",
    "date_of_expiry": "02 JAN 2036",
    "issuing_office": "KANTOR IMIGRASI KELAS I TPI SURABAYA TANJUNG PERAK",
}
WIB = timezone(timedelta(hours=7))
RECEIPT = dict(
    application_number="SBY-2026-000123",
    office_name="Kantor Imigrasi Kelas I TPI Surabaya — Tanjung Perak",
    applicant_name="Siti Nurhaliza",
    lines=[("Jenis / Type", "baru — biasa / new — ordinary"), ("Biaya / Fee", "Rp650.000"),
           ("Antrean / Queue ticket", "A-017")],
    qr_payload="KANIM:SBY:SBY-2026-000123",
    issued_at=datetime(2026, 11, 30, 8, 15, tzinfo=WIB),
    timezone="Asia/Jakarta",
)


def png_image(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def photo_area(image: Image.Image) -> np.ndarray:
    x, y, w, h = PHOTO_BOX
    return np.asarray(image)[y + 5:y + h - 5, x + 5:x + w - 5]


def test_the_data_page_is_a_png_of_the_id3_page_shape() -> None:
    page = png_image(render_data_page_png(photo_jpeg=photos.passport_photo_jpeg(), fields=FIELDS,
                                          mrz_lines=MRZ))

    assert page.size == PAGE_SIZE == (1250, 880)
    assert page.mode == "RGB"
    assert PAGE_SIZE[0] / PAGE_SIZE[1] == pytest.approx(125 / 88, rel=0.01)


def test_the_photo_is_drawn_in_its_frame() -> None:
    with_photo = png_image(render_data_page_png(photo_jpeg=photos.passport_photo_jpeg(),
                                                fields=FIELDS, mrz_lines=MRZ))
    without = png_image(render_data_page_png(photo_jpeg=None, fields=FIELDS, mrz_lines=MRZ))

    assert photo_area(with_photo).std() > 30  # a face, not a flat frame
    assert photo_area(without).std() < 30


def test_the_machine_readable_zone_is_printed_in_black_at_the_bottom() -> None:
    page = np.asarray(png_image(render_data_page_png(photo_jpeg=None, fields={}, mrz_lines=MRZ)))

    zone = page[datapage.MRZ_TOP:, :]
    assert (zone.max(axis=2) < 60).mean() > 0.05  # dark glyph pixels
    assert page[datapage.MRZ_TOP:, :40].min() > 200  # within the margins


def test_the_page_is_marked_as_a_specimen() -> None:
    page = np.asarray(png_image(render_data_page_png(photo_jpeg=None, fields={}, mrz_lines=MRZ)))

    banner = page[:datapage.BANNER_H]
    red = (banner[..., 0] > 150) & (banner[..., 1] < 60) & (banner[..., 2] < 60)
    assert red.mean() > 0.5


def test_a_photo_that_cannot_be_decoded_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_data_page_png(photo_jpeg=b"not a jpeg", fields=FIELDS, mrz_lines=MRZ)

    assert caught.value.code == "photo-not-an-image"


def test_the_page_renders_without_the_dejavu_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datapage, "find_font", lambda name: None)
    datapage._font.cache_clear()
    try:
        page = png_image(render_data_page_png(photo_jpeg=None, fields=FIELDS, mrz_lines=MRZ))
    finally:
        datapage._font.cache_clear()

    assert page.size == PAGE_SIZE


def pdf_images(pdf: bytes) -> list[dict[str, bytes]]:
    """The image XObjects of a PDF: their dictionary entries and raw stream."""
    found = []
    for match in re.finditer(rb"<<((?:[^<>]|<<[^<>]*>>)*?/Subtype /Image(?:[^<>]|<<[^<>]*>>)*?)>>\s*stream\r?\n",
                             pdf):
        entries = dict(re.findall(rb"/(\w+) (<<[^>]*>>|/?\w+)", match.group(1)))
        length = int(entries[b"Length"])
        entries[b"stream"] = pdf[match.end():match.end() + length]
        found.append(entries)
    return found


def g4_to_array(width: int, height: int, data: bytes) -> np.ndarray:
    """Decode a CCITT Group 4 stream by wrapping it in a one-strip TIFF for Pillow (libtiff)."""
    tags = [(256, width), (257, height), (258, 1), (259, 4), (262, 1), (273, None), (278, height),
            (279, len(data))]
    start = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, value in tags:
        if tag in (273, 279):
            ifd += struct.pack("<HHII", tag, 4, 1, start if value is None else value)
        else:
            ifd += struct.pack("<HHIHH", tag, 3, 1, value, 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + data
    return np.asarray(Image.open(io.BytesIO(tiff)).convert("L"))


def test_the_receipt_is_a_one_page_a4_pdf_naming_the_application() -> None:
    pdf = render_receipt_pdf(**RECEIPT)

    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert b"/Count 1" in pdf
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 in points
    assert b"SBY-2026-000123" in pdf  # in the document title and subject
    assert b"Passport Application Receipt" in pdf


def test_the_receipt_qr_code_scans_back_to_its_payload() -> None:
    if not features.check("libtiff"):
        pytest.skip("Pillow without libtiff cannot decode the CCITT G4 image fpdf2 embeds")
    pdf = render_receipt_pdf(**RECEIPT)

    images = pdf_images(pdf)
    assert len(images) == 1
    qr = images[0]
    if qr.get(b"Filter") != b"/CCITTFaxDecode":
        pytest.skip(f"fpdf2 stored the QR code with {qr.get(b'Filter')!r}; this test reads G4 only")
    pixels = g4_to_array(int(qr[b"Width"]), int(qr[b"Height"]), qr[b"stream"])

    payload, _, _ = cv2.QRCodeDetector().detectAndDecode(pixels)
    assert payload == RECEIPT["qr_payload"]


def test_a_telegram_start_link_is_a_second_qr_code_that_scans_back_to_it() -> None:
    if not features.check("libtiff"):
        pytest.skip("Pillow without libtiff cannot decode the CCITT G4 image fpdf2 embeds")
    link = "https://t.me/KanimManadoBot?start=" + "a" * 32 + "B_c-DEFGHIJKLMNO"
    pdf = render_receipt_pdf(**{**RECEIPT, "telegram_url": link})
    images = pdf_images(pdf)
    assert len(images) == 2 and b"/Count 1" in pdf, "still one page"
    decoded = []
    for image in images:
        if image.get(b"Filter") != b"/CCITTFaxDecode":
            pytest.skip(f"fpdf2 stored a QR code with {image.get(b'Filter')!r}; this test reads G4 only")
        pixels = g4_to_array(int(image[b"Width"]), int(image[b"Height"]), image[b"stream"])
        decoded.append(cv2.QRCodeDetector().detectAndDecode(pixels)[0])
    assert sorted(decoded) == sorted([RECEIPT["qr_payload"], link])
    assert len(pdf_images(render_receipt_pdf(**RECEIPT))) == 1, "no link, no second code"


def test_a_receipt_can_carry_a_naive_time() -> None:
    pdf = render_receipt_pdf(**{**RECEIPT, "issued_at": datetime(2026, 11, 30, 8, 15)})

    assert pdf.startswith(b"%PDF")


def test_the_qr_png_scans_back_to_its_payload() -> None:
    image = np.asarray(Image.open(io.BytesIO(qr_png("KANIM:SMG:SMG-2026-004711"))).convert("L"))

    payload, _, _ = cv2.QRCodeDetector().detectAndDecode(image)

    assert payload == "KANIM:SMG:SMG-2026-004711"


def test_the_receipt_falls_back_to_latin1_core_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipt, "find_font", lambda name: None)

    pdf = render_receipt_pdf(**{**RECEIPT, "applicant_name": "Siti “Ani” Nurhaliza → ✓"})

    assert pdf.startswith(b"%PDF")
    assert b"/Helvetica" in pdf and b"DejaVu" not in pdf


@pytest.mark.parametrize(("at", "zone", "text"), [
    (datetime(2026, 12, 1, 8, 3, tzinfo=UTC), "Asia/Jakarta", "01-12-2026 15:03 WIB"),
    (datetime(2026, 11, 30, 9, 15, tzinfo=timezone(timedelta(hours=8))), "Asia/Makassar", "30-11-2026 09:15 WITA"),
    (datetime(2026, 11, 30, 1, 15, tzinfo=UTC), "Asia/Jayapura", "30-11-2026 10:15 WIT"),
    (datetime(2026, 11, 30, 1, 15, tzinfo=UTC), "UTC", "30-11-2026 01:15 UTC"),
    (datetime(2026, 11, 30, 8, 15), "Asia/Jakarta", "30-11-2026 08:15"),
])
def test_issue_times_are_the_offices_local_time_with_its_zone(at: datetime, zone: str, text: str) -> None:
    assert format_issued_at(at, zone) == text


def pdf_text(pdf: bytes) -> str:
    """The text drawn by the core (latin-1) fonts, from every compressed stream."""
    import zlib

    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            continue
    return "".join(re.findall(r"\((.*?)\) ?Tj", "".join(out)))


def test_the_receipt_prints_the_issue_time_in_the_offices_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipt, "find_font", lambda name: None)  # core fonts: the text is plain in the PDF
    pdf = render_receipt_pdf(**{**RECEIPT, "issued_at": datetime(2026, 12, 1, 8, 3, tzinfo=UTC)})
    text = pdf_text(pdf)
    assert "01-12-2026 15:03 WIB" in text
    assert "UTC" not in text and "08:03" not in text
