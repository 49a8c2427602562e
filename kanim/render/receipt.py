"""The application receipt (tanda terima): one A4 page, Indonesian first and English second, with
a QR code the counter scans to find the application. The applicant keeps it; a family member
collecting the passport for them brings it with their KTP and the family card (KK).
"""

from __future__ import annotations

import io
from datetime import datetime

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from kanim.domain.zones import local_time_text
from kanim.render.datapage import SANS, SANS_BOLD, find_font

TITLE_ID = "Tanda Terima Permohonan Paspor"
TITLE_EN = "Passport Application Receipt"
QR_MM = 42

# What the latin-1 core fonts cannot show, spelled with what they can.
LATIN1_SPELLING = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                                 "…": "...", "•": "-", "→": "->", "\u00a0": " "})


def qr_png(payload: str, *, scale: int = 10) -> bytes:
    """The QR code as a PNG: error correction M (15% of the code can be smudged), 4-module quiet
    zone as the standard asks."""
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def format_issued_at(at: datetime, timezone: str) -> str:
    """'28-11-2026 09:15 WIB': the office's local time and zone (kanim/domain/zones.py)."""
    return local_time_text(at, timezone)


class _Receipt(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        regular, bold = find_font(SANS), find_font(SANS_BOLD)
        self.unicode = bool(regular and bold)
        if self.unicode:
            self.add_font("DejaVu", "", str(regular))
            self.add_font("DejaVu", "B", str(bold))
        self.family_name = "DejaVu" if self.unicode else "helvetica"
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def text_for(self, text: str) -> str:
        """Core fonts are latin-1 only: replace what they cannot show rather than fail."""
        if self.unicode:
            return text
        return text.translate(LATIN1_SPELLING).encode("latin-1", "replace").decode("latin-1")

    def write_line(self, text: str, *, size: float, bold: bool = False, h: float | None = None,
                   color: tuple[int, int, int] = (20, 30, 50), w: float = 0) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)
        self.set_text_color(*color)
        # Left-aligned: multi_cell justifies by default, which spreads a wrapped title across the line.
        self.multi_cell(w, h or size * 0.5, self.text_for(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_receipt_pdf(*, application_number: str, office_name: str, applicant_name: str,
                       lines: list[tuple[str, str]], qr_payload: str, issued_at: datetime,
                       timezone: str, telegram_url: str | None = None) -> bytes:
    """The receipt as PDF bytes. `lines` are (label, value) rows shown in a table, in order;
    `issued_at` is printed in the office's `timezone` (an IANA name, KANIM_TIMEZONE);
    `telegram_url`, the booking's start link, is printed as a second QR code for the applicant's
    phone (nobody types a 48-character code)."""
    pdf = _Receipt()
    pdf.set_title(f"{TITLE_ID} / {TITLE_EN} {application_number}")
    pdf.set_subject(application_number)
    pdf.set_author(office_name)
    pdf.set_creator("kanim")
    pdf.set_creation_date(issued_at)
    pdf.add_page()

    text_w = pdf.epw - QR_MM - 8  # the header runs beside the QR code
    qr_x, top = pdf.w - pdf.r_margin - QR_MM, pdf.get_y()
    pdf.image(io.BytesIO(qr_png(qr_payload)), x=qr_x, y=top, w=QR_MM, h=QR_MM)
    pdf.set_xy(qr_x, top + QR_MM)
    pdf.set_font(pdf.family_name, "", 7)
    pdf.set_text_color(90, 100, 120)
    pdf.multi_cell(QR_MM, 3.2, pdf.text_for("Pindai di loket / Scan at the counter"), align="C")

    pdf.set_xy(pdf.l_margin, top)
    pdf.write_line(office_name.upper(), size=10, bold=True, w=text_w, color=(90, 100, 120))
    pdf.ln(3)
    pdf.write_line(TITLE_ID, size=18, bold=True, w=text_w, h=8)
    pdf.write_line(TITLE_EN, size=12, w=text_w, h=6, color=(90, 100, 120))
    pdf.ln(5)
    for label, value, size in (("Nomor Permohonan / Application Number", application_number, 16),
                               ("Nama Pemohon / Applicant", applicant_name, 13),
                               ("Diterbitkan / Issued", format_issued_at(issued_at, timezone), 11)):
        pdf.write_line(label, size=8, w=text_w, color=(90, 100, 120))
        pdf.write_line(value, size=size, bold=True, w=text_w, h=size * 0.5)
        pdf.ln(2)

    pdf.set_y(max(pdf.get_y(), top + QR_MM + 10) + 4)
    _table(pdf, lines)
    pdf.ln(8)
    pdf.write_line(
        "Simpan tanda terima ini dan bawa saat mengambil paspor. Anggota keluarga dalam Kartu "
        "Keluarga yang sama dapat mengambilkan dengan membawa tanda terima ini, KTP-nya dan KK.",
        size=9, h=4.6)
    pdf.ln(1)
    pdf.write_line(
        "Keep this receipt and bring it to collect the passport. A family member on the same "
        "family card (KK) may collect it for you with this receipt, their KTP and the KK.",
        size=9, h=4.6, color=(90, 100, 120))
    pdf.ln(4)
    pdf.write_line("Tanda terima ini bukan dokumen perjalanan. / This receipt is not a travel document.",
                   size=8, bold=True, h=4)
    if telegram_url:
        _telegram_block(pdf, telegram_url)
    return bytes(pdf.output())


TELEGRAM_QR_MM = 32


def _telegram_block(pdf: _Receipt, url: str) -> None:
    pdf.ln(8)
    top = pdf.get_y()
    pdf.image(io.BytesIO(qr_png(url)), x=pdf.l_margin, y=top, w=TELEGRAM_QR_MM, h=TELEGRAM_QR_MM)
    text_x, text_w = pdf.l_margin + TELEGRAM_QR_MM + 6, pdf.epw - TELEGRAM_QR_MM - 6
    pdf.set_xy(text_x, top + 3)
    pdf.set_left_margin(text_x)  # the lines wrap beside the code, not under it
    pdf.write_line("Pesan lewat Telegram / Messages on Telegram", size=11, bold=True, w=text_w, h=5.5)
    pdf.ln(1)
    pdf.write_line("Pindai dengan ponsel Anda dan tekan Mulai: kabar permohonan ini akan dikirim ke Telegram "
                   "Anda.", size=9, w=text_w, h=4.6)
    pdf.write_line("Scan with your phone and press Start: this application's news will come to your Telegram.",
                   size=9, w=text_w, h=4.6, color=(90, 100, 120))
    pdf.set_left_margin(18)


def _table(pdf: _Receipt, lines: list[tuple[str, str]]) -> None:
    label_style = FontFace(family=pdf.family_name, emphasis="", size_pt=9, color=(90, 100, 120))
    value_style = FontFace(family=pdf.family_name, emphasis="BOLD", size_pt=10, color=(20, 30, 50))
    pdf.set_draw_color(200, 205, 215)
    with pdf.table(col_widths=(70, pdf.epw - 70), first_row_as_headings=False, line_height=6,
                   borders_layout="HORIZONTAL_LINES", text_align="LEFT", padding=1.5) as table:
        for label, value in lines:
            row = table.row()
            row.cell(pdf.text_for(label), style=label_style)
            row.cell(pdf.text_for(value or "-"), style=value_style)
