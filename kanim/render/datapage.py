"""A preview of the passport data page (the laminated page with photo, details and the MRZ), for
the print room to check before personalising a booklet.

It is drawn at 10 px/mm on the ID-3 page size (125 x 88 mm, ISO/IEC 7810), and marked
"SPECIMEN — PREVIEW" across the page so that no printout of it can pass for a document.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from kanim.domain.errors import InvalidInput

PAGE_SIZE = (1250, 880)  # 125 x 88 mm at 10 px/mm
SPECIMEN = "SPECIMEN — PREVIEW"
DEFAULT_TITLE = "REPUBLIK INDONESIA — PASPOR / PASSPORT"

# Field keys a caller may use instead of writing the label; any other key is shown as its own
# label, in the order given.
FIELD_LABELS = {
    "type": "Jenis / Type",
    "code": "Kode Negara / Country Code",
    "passport_no": "No. Paspor / Passport No.",
    "name": "Nama Lengkap / Full Name",
    "nationality": "Kewarganegaraan / Nationality",
    "date_of_birth": "Tanggal Lahir / Date of Birth",
    "sex": "Jenis Kelamin / Sex",
    "place_of_birth": "Tempat Lahir / Place of Birth",
    "date_of_issue": "Tanggal Pengeluaran / Date of Issue",
    "date_of_expiry": "Tanggal Habis Berlaku / Date of Expiry",
    "issuing_office": "Kantor yang Mengeluarkan / Issuing Office",
}

FONT_DIRS = (Path(__file__).parent / "fonts", Path("/usr/share/fonts/truetype/dejavu"))
SANS, SANS_BOLD, MONO = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"

INK = (25, 35, 60)
LABEL_INK = (90, 100, 120)
PAPER = (244, 241, 228)
MARGIN = 40
BANNER_H = 26
PHOTO_BOX = (MARGIN, 120, 330, 424)  # x, y, w, h: 33 x 42.4 mm, the 35:45 shape
FIELDS_LEFT = PHOTO_BOX[0] + PHOTO_BOX[2] + 40
MRZ_TOP = 880 - 170  # the machine readable zone is the bottom 17 mm (ICAO 9303 part 4)


def find_font(filename: str) -> Path | None:
    """A font file from the package's own fonts/ folder or the system's DejaVu folder."""
    return next((d / filename for d in FONT_DIRS if (d / filename).is_file()), None)


@functools.lru_cache(maxsize=64)
def _font(filename: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_font(filename)
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size=size)


def render_data_page_png(*, photo_jpeg: bytes | None, fields: dict[str, str],
                         mrz_lines: tuple[str, str], title: str = DEFAULT_TITLE) -> bytes:
    """The data page as PNG bytes. `fields` maps labels (or keys of FIELD_LABELS) to values, in
    the order to show them; `photo_jpeg` None draws an empty photo frame."""
    if len(mrz_lines) != 2:
        raise ValueError("a passport (TD3) MRZ has exactly two lines")
    page = Image.new("RGB", PAGE_SIZE, PAPER)
    draw = ImageDraw.Draw(page)
    _background(draw)
    _fit_text(draw, (PAGE_SIZE[0] // 2, BANNER_H + 36), title, SANS_BOLD, 34, PAGE_SIZE[0] - 2 * MARGIN,
              anchor="mm")
    _photo(page, draw, photo_jpeg)
    _fields(draw, [(FIELD_LABELS.get(k, k), v) for k, v in fields.items()])
    _mrz(draw, mrz_lines)
    page = _stamp_specimen(page)
    out = io.BytesIO()
    page.save(out, "PNG")
    return out.getvalue()


def _background(draw: ImageDraw.ImageDraw) -> None:
    """Fine wavy lines, a nod to the guilloche of a real page; also makes copies look copied."""
    w, h = PAGE_SIZE
    for i in range(0, h, 22):
        points = [(x, i + 6 * ((x // 40) % 2)) for x in range(0, w + 40, 40)]
        draw.line(points, fill=(232, 226, 205), width=1)
    draw.rectangle((0, 0, w - 1, h - 1), outline=(200, 190, 160), width=3)
    draw.line((MARGIN, BANNER_H + 70, w - MARGIN, BANNER_H + 70), fill=(200, 190, 160), width=2)


def _photo(page: Image.Image, draw: ImageDraw.ImageDraw, photo_jpeg: bytes | None) -> None:
    x, y, w, h = PHOTO_BOX
    if photo_jpeg is None:
        draw.rectangle((x, y, x + w, y + h), fill=(225, 225, 225), outline=LABEL_INK, width=2)
        _fit_text(draw, (x + w // 2, y + h // 2), "TANPA FOTO / NO PHOTO", SANS, 22, w - 20,
                  anchor="mm", fill=LABEL_INK)
        return
    try:
        with Image.open(io.BytesIO(photo_jpeg)) as img:
            photo = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidInput("the stored face photo cannot be decoded",
                           code="photo-not-an-image") from None
    # Fill the frame, cropping the sides or the bottom rather than the top of the head.
    page.paste(ImageOps.fit(photo, (w, h), Image.Resampling.LANCZOS, centering=(0.5, 0.35)), (x, y))
    draw.rectangle((x, y, x + w, y + h), outline=LABEL_INK, width=1)


def _fields(draw: ImageDraw.ImageDraw, items: list[tuple[str, str]]) -> None:
    """Label over value, two to a row; a value too long for half a row gets a whole row."""
    right = PAGE_SIZE[0] - MARGIN
    full, gap = right - FIELDS_LEFT, 30
    half = (full - gap) // 2
    value_size = 28
    rows: list[list[tuple[str, str, bool]]] = []
    for label, value in items:
        wide = _width(draw, value, SANS_BOLD, value_size) > half or _width(draw, label, SANS, 17) > half
        if wide or not rows or len(rows[-1]) == 2 or rows[-1][0][2]:
            rows.append([])
        rows[-1].append((label, value, wide))
    top, bottom = PHOTO_BOX[1], MRZ_TOP - 30
    row_h = min(86, (bottom - top) // max(1, len(rows)))
    scale = min(1.0, row_h / 86)
    for r, row in enumerate(rows):
        y = top + r * row_h
        for c, (label, value, wide) in enumerate(row):
            x = FIELDS_LEFT + c * (half + gap)
            width = full if wide else half
            _fit_text(draw, (x, y), label, SANS, round(17 * scale), width, fill=LABEL_INK)
            _fit_text(draw, (x, y + round(24 * scale)), value or "—", SANS_BOLD,
                      round(value_size * scale), width)


def _mrz(draw: ImageDraw.ImageDraw, lines: tuple[str, str]) -> None:
    """Two lines of 44 characters in a monospaced face (OCR-B on the real page)."""
    draw.rectangle((0, MRZ_TOP, PAGE_SIZE[0], PAGE_SIZE[1]), fill=(250, 250, 246))
    width = PAGE_SIZE[0] - 2 * MARGIN
    longest = max(lines, key=len) or " "
    size = 44
    while size > 8 and _width(draw, longest, MONO, size) > width:
        size -= 1
    for i, line in enumerate(lines):
        draw.text((MARGIN, MRZ_TOP + 30 + i * round(size * 1.45)), line, font=_font(MONO, size),
                  fill=(0, 0, 0))


def _stamp_specimen(page: Image.Image) -> Image.Image:
    """The mark across the page and a red banner along the top, drawn over everything."""
    overlay = Image.new("RGBA", PAGE_SIZE, (0, 0, 0, 0))
    mark = Image.new("RGBA", (1200, 130), (0, 0, 0, 0))
    ImageDraw.Draw(mark).text((600, 65), SPECIMEN, font=_font(SANS_BOLD, 92),
                              fill=(205, 25, 25, 95), anchor="mm")
    mark = mark.rotate(27, expand=True, resample=Image.Resampling.BICUBIC)
    overlay.paste(mark, ((PAGE_SIZE[0] - mark.width) // 2, (PAGE_SIZE[1] - mark.height) // 2), mark)
    banner = ImageDraw.Draw(overlay)
    banner.rectangle((0, 0, PAGE_SIZE[0], BANNER_H), fill=(200, 20, 20, 255))
    _fit_text(banner, (PAGE_SIZE[0] // 2, BANNER_H // 2),
              f"{SPECIMEN} — BUKAN DOKUMEN PERJALANAN / NOT A TRAVEL DOCUMENT", SANS_BOLD, 17,
              PAGE_SIZE[0] - 2 * MARGIN, anchor="mm", fill=(255, 255, 255))
    return Image.alpha_composite(page.convert("RGBA"), overlay).convert("RGB")


def _width(draw: ImageDraw.ImageDraw, text: str, font: str, size: int) -> float:
    return draw.textlength(text, font=_font(font, size))


def _fit_text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: str, size: int,
              max_width: int, *, anchor: str = "la", fill: tuple[int, int, int] = INK) -> None:
    """Draw `text`, shrinking the font until it fits `max_width` (long names, long offices)."""
    while size > 8 and _width(draw, text, font, size) > max_width:
        size -= 1
    draw.text(xy, text, font=_font(font, size), fill=fill, anchor=anchor)
