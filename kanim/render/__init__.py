"""Documents the office hands out or looks at, rendered in memory with no network and no fonts
to download: the passport data-page preview (PNG, Pillow) and the application receipt (PDF,
fpdf2, with a QR code from segno). Both use the DejaVu fonts when the system has them.
"""
