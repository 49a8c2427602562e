"""The booklet accountability report (laporan pertanggungjawaban buku paspor) as a PDF: every
blank booklet the office received is issued, spoiled with a reason, or still in stock, and the
report says whether the three add up. A4, Indonesian first and English second like the
receipt; it is signed and filed, so it ends with room for two signatures."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from kanim.domain.booklet import AccountabilityReport, Booklet
from kanim.domain.zones import local_time_text
from kanim.render.datapage import SANS, SANS_BOLD, find_font
from kanim.render.receipt import LATIN1_SPELLING

TITLE_ID = "Laporan Pertanggungjawaban Buku Paspor"
TITLE_EN = "Passport Booklet Accountability Report"
REASONS = {"misprint": "Salah cetak / Misprint", "qc_failure": "Gagal pemeriksaan mutu / Failed quality check",
           "voided_after_flag": "Dibatalkan setelah ditandai pusat / Voided after a central flag",
           "damaged_in_stock": "Rusak di gudang / Damaged in stock"}
INK, MUTED, BAD, OK = (20, 30, 50), (90, 100, 120), (161, 26, 26), (30, 107, 53)


class _Report(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        regular, bold = find_font(SANS), find_font(SANS_BOLD)
        self.unicode = bool(regular and bold)
        if self.unicode:
            self.add_font("DejaVu", "", str(regular))
            self.add_font("DejaVu", "B", str(bold))
        self.family_name = "DejaVu" if self.unicode else "helvetica"
        self.footer_text = footer_text
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=20)

    def text_for(self, text: str) -> str:
        if self.unicode:
            return text
        return text.translate(LATIN1_SPELLING).encode("latin-1", "replace").decode("latin-1")

    def line_of(self, text: str, *, size: float, bold: bool = False, color: tuple[int, int, int] = INK,
                h: float | None = None) -> None:
        self.set_font(self.family_name, "B" if bold else "", size)
        self.set_text_color(*color)
        self.multi_cell(0, h or size * 0.5, self.text_for(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family_name, "", 7)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.text_for(f"{self.footer_text} · {self.page_no()}/{{nb}}"), align="R")


def render_booklet_report_pdf(*, counts: AccountabilityReport, batches: list[dict], spoiled: list[Booklet],
                              at: datetime, office_name: str, office_code: str, timezone: str) -> bytes:
    """The report as PDF bytes: totals, spoiled by reason, every batch received and the
    spoiled booklets (the latest of them, when there are very many)."""
    when = local_time_text(at, timezone)
    pdf = _Report(f"{office_code} · {TITLE_EN} · {when}")
    pdf.set_title(f"{TITLE_ID} / {TITLE_EN}")
    # The totals in the document's own metadata too: a filing system (or a test) reads them there.
    pdf.set_subject(f"{office_code}: received {counts.received} = issued {counts.issued} + spoiled {counts.spoiled} "
                    f"+ in stock {counts.in_stock} ({'balanced' if counts.balanced else 'NOT BALANCED'})")
    pdf.set_author(office_name)
    pdf.set_creator("kanim")
    pdf.set_creation_date(at)
    pdf.add_page()
    pdf.line_of(f"{office_name.upper()} ({office_code})", size=10, bold=True, color=MUTED)
    pdf.ln(2)
    pdf.line_of(TITLE_ID, size=17, bold=True, h=8)
    pdf.line_of(TITLE_EN, size=12, color=MUTED, h=6)
    pdf.line_of(f"Per / As of: {when}", size=9, color=MUTED, h=5)
    pdf.ln(4)
    _totals(pdf, counts)
    if counts.spoiled_by_reason:
        _heading(pdf, "Rusak menurut alasan", "Spoiled by reason")
        _table(pdf, ("Alasan / Reason", "Jumlah / Count"), (120, None),
               [(REASONS.get(k, k), str(v)) for k, v in sorted(counts.spoiled_by_reason.items())])
    _heading(pdf, "Penerimaan", "Batches received")
    _table(pdf, ("Nomor seri / Serials", "Jumlah / Count", "Diterima / Received", "Oleh / By"), (60, 32, 50, None),
           [(f"{b['first_serial']} – {b['last_serial']}", str(b["count"]), local_time_text(b["received_at"], timezone),
             b["received_by"]) for b in batches] or [("–", "0", "–", "–")])
    _heading(pdf, "Buku rusak", "Spoiled booklets")
    if counts.spoiled > len(spoiled):
        pdf.line_of(f"{len(spoiled)} terbaru dari {counts.spoiled} / the latest {len(spoiled)} of {counts.spoiled}",
                    size=8, color=MUTED, h=4)
    _table(pdf, ("Nomor seri / Serial", "Alasan / Reason", "Catatan / Note", "Waktu / When"), (28, 52, None, 44),
           [(b.serial, REASONS.get(b.spoil_reason.value, b.spoil_reason.value) if b.spoil_reason else "–",
             b.spoil_note or "", local_time_text(b.spoiled_at, timezone) if b.spoiled_at else "–")
            for b in spoiled] or [("–", "–", "", "–")])
    _signatures(pdf)
    return bytes(pdf.output())


def _totals(pdf: _Report, r: AccountabilityReport) -> None:
    rows = [("Diterima / Received", r.received), ("Diterbitkan / Issued", r.issued),
            ("Rusak / Spoiled", r.spoiled), ("Stok / In stock", r.in_stock)]
    _table(pdf, ("", ""), (120, None), [(label, f"{n:,}".replace(",", ".")) for label, n in rows], headings=False)
    pdf.ln(2)
    sums = f"{r.received} = {r.issued} + {r.spoiled} + {r.in_stock}"
    if r.balanced:
        pdf.line_of(f"SEIMBANG / BALANCED: diterima = diterbitkan + rusak + stok ({sums})", size=10, bold=True,
                    color=OK, h=5)
    else:
        pdf.line_of(f"TIDAK SEIMBANG / NOT BALANCED: {r.received} ≠ {r.issued} + {r.spoiled} + {r.in_stock}",
                    size=10, bold=True, color=BAD, h=5)


def _heading(pdf: _Report, indonesian: str, english: str) -> None:
    pdf.ln(5)
    pdf.line_of(f"{indonesian} / {english}", size=11, bold=True, h=6)
    pdf.ln(1)


def _table(pdf: _Report, head: tuple[str, ...], widths: tuple[float | None, ...], rows: list[tuple[str, ...]],
           *, headings: bool = True) -> None:
    fixed = sum(w for w in widths if w)
    cols = tuple(w if w else pdf.epw - fixed for w in widths)
    head_style = FontFace(family=pdf.family_name, emphasis="BOLD", size_pt=8, color=MUTED)
    pdf.set_font(pdf.family_name, "", 9)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(200, 205, 215)
    with pdf.table(col_widths=cols, first_row_as_headings=headings, headings_style=head_style, line_height=5.5,
                   borders_layout="HORIZONTAL_LINES", text_align="LEFT", padding=1.2) as table:
        if headings:
            table.row([pdf.text_for(h) for h in head])
        for r in rows:
            table.row([pdf.text_for(str(v)) for v in r])


def _signatures(pdf: _Report) -> None:
    block = 14 + 34  # the space above, the label, the room to sign, the line and its caption
    if pdf.get_y() + block > pdf.h - pdf.b_margin:
        pdf.add_page()  # both signatures on one page, never split by the automatic page break
    pdf.ln(14)
    y, half = pdf.get_y(), pdf.epw / 2
    for i, (who_id, who_en) in enumerate((("Dibuat oleh", "Prepared by"), ("Diperiksa oleh", "Checked by"))):
        x = pdf.l_margin + i * half
        pdf.set_xy(x, y)
        pdf.set_font(pdf.family_name, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(half - 10, 5, pdf.text_for(f"{who_id} / {who_en}"))
        pdf.line(x, y + 28, x + half - 14, y + 28)
        pdf.set_xy(x, y + 29)
        pdf.set_font(pdf.family_name, "", 7.5)
        pdf.cell(half - 10, 5, pdf.text_for("Nama, NIP, tanda tangan / Name, staff no., signature"))
