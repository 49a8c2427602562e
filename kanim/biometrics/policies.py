"""The limits a photo and a fingerprint must meet: plain settings, apart from the checks that
apply them (kanim/biometrics/photo.py and fingerprint.py, on OpenCV and numpy), so that a process
reads and passes them around without loading those: every `kanim` process builds its Office with
both policies, and most never check an image (OpenCV alone costs 0.15 s at start)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoPolicy:
    """Limits a photo must meet. The defaults suit a counter camera and the ICAO framing."""

    max_bytes: int = 5_000_000
    # Guards against decompression bombs (a tiny PNG that decodes to gigabytes); 40 MP is
    # above any camera an office uses.
    max_pixels: int = 40_000_000
    min_width: int = 400
    min_height: int = 400

    # Chin-to-crown height / Haar face-box height. ICAO's crown is the top of the skull as if there
    # were no hair. On the astronaut portrait (skimage.data.astronaut, framed as a passport photo
    # at 55-95% chin to crown, 420x540 to 1200x1543 px, JPEG) the factor measured 1.57-1.69, mean
    # 1.62: the box starts about 0.45 box-heights below the crown and ends ~0.17 above the chin.
    head_to_face_box: float = 1.62
    # ICAO wants 70-80%. The estimate wobbles by a few percent between photos of one face (the
    # cascade steps its window by `scale_factor`; measured 0.69-0.73 for a true 0.70 and
    # 0.80-0.82 for a true 0.80) and more between faces (foreheads and chins vary), so the
    # accepted band is ICAO's widened by 5 points each side: a conforming photo is not sent back
    # for a retake, while a true 60% or 90% is (measured 0.57-0.60 and 0.91-0.93), and so are
    # half-body shots (~30%) and close-ups (~100%).
    min_face_height_ratio: float = 0.65
    max_face_height_ratio: float = 0.85

    # Detection and the background statistics run on a gray copy whose longer side is at most
    # this; a passport face is then still >= 160 px tall. The cascade's cost is set mostly by
    # `min_face_size` (it starts its pyramid there): ~17 ms here against ~32 ms on a 7 MP
    # original, and the equalisation and background mask become cheap whatever the upload.
    detect_max_side: int = 400
    # Window growth per step and overlapping hits needed to count as a face. With 1.05 the
    # shuttle model beside the astronaut's head became a second "face" at minNeighbors up to 6
    # (10 without histogram equalisation). With 1.1 and 6: the astronaut is found alone at
    # every framing, rotated +/-10 degrees, blurred, noisy, 40% darker, at JPEG quality 40 and
    # in front of stripes; 10 of skimage's 12 non-face pictures give no face, and the other two
    # (coins, a tissue stain) one small false face that the face-size rule refuses anyway.
    scale_factor: float = 1.1
    min_neighbors: int = 6
    # Smallest face box looked for, as a fraction of the shorter side: far smaller than any
    # accepted face (>= 40% of the height) so that a half-body shot is reported as "face too
    # small", not "no face". Going lower costs time (0.08: 23 ms, 0.10: 16 ms, measured on a
    # 2-core machine) and finds nothing a counter camera produces.
    min_face_size: float = 0.10
    # A second detection counts as another face only if at least this fraction of the main
    # face's height and not centred inside it: smaller hits are texture, not a person.
    second_face_min_size: float = 0.4

    # Background is sampled in strips this fraction of the image deep: along the top, and down
    # both side edges from the top to mid-face (below that come the shoulders), minus the head.
    background_band: float = 0.05
    # Mean luma (0-255), measured on the calibration photo: white 255, white with a 25%
    # corner falloff 215, light grey backdrops 185 and 200 (accepted); navy 57, red 102,
    # mid-blue 126, and white underexposed by 40% 153 (refused: retake with more light).
    min_background_mean: float = 180.0
    # Luma standard deviation: plain white 0.5-2.5 (noise, JPEG), with the corner falloff 9,
    # with hair reaching into a strip when the head is tilted 10 degrees 10-18; light stripes
    # 53 (refused). 25 leaves room for uneven light and stray hair.
    max_background_std: float = 25.0

    # The stored copy: longer side capped (a 12 MP upload is not needed for a 35x45 mm print).
    store_max_side: int = 1600
    jpeg_quality: int = 92


@dataclass(frozen=True)
class FingerprintPolicy:
    # A 500 ppi flat impression PNG is 50-250 kB; a four-finger slap at 1000 ppi about 2 MB.
    max_bytes: int = 5_000_000
    max_pixels: int = 10_000_000  # a 1000 ppi four-finger slap is ~3200x3000
    # A 500 ppi single flat impression is about 400x500 px; 256 px is ~13 mm at 500 ppi,
    # less than a fingertip: anything smaller is a thumbnail or a wrong setting on the scanner.
    min_width: int = 256
    min_height: int = 256
    # Standard deviation of the gray levels (0-255) over the whole image. An empty platen or a
    # blank page reads 1-4 (sensor noise); the synthetic 400x500 test print reads ~80 and the
    # same print at a tenth of its contrast (a very light press) ~8.
    min_std: float = 6.0
    # Share of clearly coloured pixels: 0 for a scanner's greyscale (or a grey image saved as
    # RGB), 0.39-0.86 for camera photos of faces and things.
    max_colour_share: float = 0.05
    # Share of the print's 48 px blocks that are ridge-like: 0.64-0.87 for test prints, at most
    # 0.19 for faces (`kanim.biometrics.ridges` gives the measurements).
    min_ridge_share: float = 0.4
