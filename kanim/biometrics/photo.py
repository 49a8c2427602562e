"""Checks on an uploaded face photo, the rules of DOMAIN.md's MRZ section: one face, chin to crown
about 70-80% of the image height, plain light background (white at Indonesian offices).

`check_photo(data)` takes the uploaded bytes and either returns a `PhotoReport` holding what was
measured plus the photo re-encoded as a metadata-free JPEG (what the office stores), or raises
`InvalidInput` whose `code` names the first rule broken, in this order:

    photo-too-large, photo-not-an-image, photo-resolution, photo-no-face, photo-several-faces,
    photo-face-size, photo-background

Faces are found with OpenCV's bundled Haar cascade (no model download). A Haar face box runs from
about the eyebrows to the chin, not from chin to crown, so the face height is estimated from it
with a factor calibrated on a real photo (see `PhotoPolicy.head_to_face_box`).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from kanim.biometrics.policies import PhotoPolicy
from kanim.domain.errors import InvalidInput

# The server runs many requests at once on few cores: OpenCV's own worker threads would only
# compete with them (measured: 58 ms wall for 36 ms of CPU per photo under load).
cv2.setNumThreads(1)

CASCADE_FILE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the uploaded image


@dataclass(frozen=True)
class PhotoReport:
    """What was measured. Sizes and the face box describe `normalized_jpeg`, the stored image
    (the upload itself unless its longer side exceeded `PhotoPolicy.store_max_side`)."""

    width: int
    height: int
    face_box: Box
    face_height_ratio: float  # estimated chin-to-crown height / image height
    background_mean: float
    background_std: float
    normalized_jpeg: bytes = field(repr=False)  # re-encoded, EXIF and other metadata dropped


_cascade: cv2.CascadeClassifier | None = None
# OpenCV algorithms must not run concurrently on one object (detectMultiScale keeps per-call
# state in the classifier), so detection is serialised; it takes ~17 ms and already uses both cores.
_cascade_lock = threading.Lock()


def _detect(gray: np.ndarray, policy: PhotoPolicy) -> list[Box]:
    global _cascade
    side = max(24, int(policy.min_face_size * min(gray.shape)))
    with _cascade_lock:
        if _cascade is None:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's {CASCADE_FILE} could not be loaded")
            _cascade = cascade
        found = _cascade.detectMultiScale(gray, scaleFactor=policy.scale_factor,
                                          minNeighbors=policy.min_neighbors,
                                          minSize=(side, side))
    return [tuple(int(v) for v in box) for box in found]


def check_photo(data: bytes, policy: PhotoPolicy = PhotoPolicy()) -> PhotoReport:
    """Check an uploaded face photo; return what was measured or raise `InvalidInput`."""
    image = _decode(data, policy)
    height, width = image.shape[:2]
    if width < policy.min_width or height < policy.min_height:
        raise InvalidInput(
            f"the photo is {width}x{height} px; the minimum is "
            f"{policy.min_width}x{policy.min_height} px", code="photo-resolution")

    scale = min(1.0, policy.detect_max_side / max(width, height))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    face = _one_face(_detect(cv2.equalizeHist(gray), policy), policy)

    ratio = face[3] * policy.head_to_face_box / gray.shape[0]
    if not policy.min_face_height_ratio <= ratio <= policy.max_face_height_ratio:
        raise InvalidInput(
            f"the face (chin to crown, estimated) is {ratio:.0%} of the photo height; it must be "
            f"{policy.min_face_height_ratio:.0%}-{policy.max_face_height_ratio:.0%} "
            f"(ICAO: 70-80%): {'move closer' if ratio < policy.min_face_height_ratio else 'step back'}",
            code="photo-face-size", measured=round(ratio, 3))

    mean, std = _background(gray, face, policy)
    if mean < policy.min_background_mean or std > policy.max_background_std:
        raise InvalidInput(
            f"the background must be plain and light (white): measured brightness {mean:.0f} "
            f"(minimum {policy.min_background_mean:.0f} of 255) and variation {std:.0f} "
            f"(maximum {policy.max_background_std:.0f})",
            code="photo-background", mean=round(mean, 1), std=round(std, 1))

    stored = _for_storage(image, policy)
    stored_h, stored_w = stored.shape[:2]
    return PhotoReport(width=stored_w, height=stored_h,
                       face_box=_rescale(face, gray.shape[0] / stored_h, stored_w, stored_h),
                       face_height_ratio=round(ratio, 4), background_mean=round(mean, 2),
                       background_std=round(std, 2), normalized_jpeg=_jpeg(stored, policy))


def _decode(data: bytes, policy: PhotoPolicy) -> np.ndarray:
    if len(data) > policy.max_bytes:
        raise InvalidInput(f"the photo is {len(data):,} bytes; the limit is {policy.max_bytes:,}",
                           code="photo-too-large", size=len(data), limit=policy.max_bytes)
    refuse_huge_image(data, policy.max_pixels, what="photo", code="photo-too-large")
    image = None
    if data:
        try:
            # IMREAD_COLOR applies the EXIF orientation, so a phone photo comes out upright.
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error:
            image = None
    if image is None:
        raise InvalidInput("the file is not an image OpenCV can decode (JPEG or PNG)",
                           code="photo-not-an-image")
    return image


def refuse_huge_image(data: bytes, max_pixels: int, *, what: str, code: str) -> None:
    """Refuse an image whose header announces more than `max_pixels`, before anything decodes
    it: a few-kB PNG can decode to gigabytes. Pillow reads only the header here; files Pillow
    does not recognise are left for OpenCV to judge."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise InvalidInput(f"the {what} has far more than {max_pixels / 1e6:.0f} MP",
                           code=code) from None
    except (UnidentifiedImageError, OSError, ValueError):
        return
    if width * height > max_pixels:
        raise InvalidInput(f"the {what} is {width}x{height} px ({width * height / 1e6:.1f} MP); "
                           f"the limit is {max_pixels / 1e6:.0f} MP", code=code)


def _one_face(found: list[Box], policy: PhotoPolicy) -> Box:
    if not found:
        raise InvalidInput("no face was found in the photo: the applicant must face the camera, "
                           "eyes open, face uncovered", code="photo-no-face")
    main = max(found, key=lambda b: b[3])
    faces = [main] + [b for b in found
                      if b is not main and b[3] >= policy.second_face_min_size * main[3]
                      and not _centre_inside(b, main)]
    if len(faces) > 1:
        raise InvalidInput(f"{len(faces)} faces were found; the photo must show the applicant alone",
                           code="photo-several-faces", faces=len(faces))
    return main


def _centre_inside(box: Box, outer: Box) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def _background(gray: np.ndarray, face: Box, policy: PhotoPolicy) -> tuple[float, float]:
    """Mean and standard deviation of luma where only backdrop should show: a band along the
    top and bands down both side edges to mid-face, minus the head.

    The head is larger than the Haar box (hair, a hijab, the forehead): on the calibration photo
    the hair reached 0.55 box-heights above the box and 0.8 box-widths either side of its centre.
    The head is taken as a column that wide from the box top down, capped by a half-ellipse
    reaching 0.6 box-heights above the box. When a tightly framed head fills the width, the
    corners above the round of the head are still judged."""
    h, w = gray.shape
    x, y, fw, fh = face
    band_h = max(2, round(policy.background_band * h))
    band_w = max(2, round(policy.background_band * w))
    rows, cols = np.ogrid[0:h, 0:w]
    bands = (rows < band_h) | (((cols < band_w) | (cols >= w - band_w)) & (rows < y + fh // 2))
    across = ((cols - (x + fw / 2)) / (0.8 * fw)) ** 2
    head = (across <= 1) & ((rows >= y) | (across + ((rows - y) / (0.6 * fh)) ** 2 <= 1))
    pixels = gray[bands & ~head]
    if pixels.size < 0.01 * h * w:
        raise InvalidInput("no background shows around the head: step back from the camera",
                           code="photo-background")
    pixels = pixels.astype(np.float32)
    return float(pixels.mean()), float(pixels.std())


def _rescale(box: Box, scale: float, width: int, height: int) -> Box:
    x, y, w, h = (round(v / scale) for v in box)
    return x, y, min(w, width - x), min(h, height - y)


def _for_storage(image: np.ndarray, policy: PhotoPolicy) -> np.ndarray:
    longer = max(image.shape[:2])
    if longer <= policy.store_max_side:
        return image
    factor = policy.store_max_side / longer
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray, policy: PhotoPolicy) -> bytes:
    """Re-encode as baseline JPEG. OpenCV writes no EXIF, GPS, maker notes or thumbnails."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, policy.jpeg_quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the photo as JPEG")
    return buf.tobytes()
