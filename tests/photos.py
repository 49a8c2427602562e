"""Test images for photo and fingerprint capture, built in memory (no files, no downloads).

The face is NASA's portrait of astronaut Eileen Collins, shipped with scikit-image as
`skimage.data.astronaut()` (public domain). A passing photo is framed the way a passport photo is:
the head cropped out, the studio background replaced by plain white, chin-to-crown 72% of
the image height, 35x45 proportions, 420x540 px. Each failing image breaks exactly one rule.

Other test tiers import this module; keep the function names and their meaning stable.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from skimage import data

# Where the head sits in the 512x512 astronaut image, measured by eye on a 3x zoom. ICAO's crown
# is the top of the skull as if there were no hair: the eyes (y=100) sit halfway between crown and
# chin (y=177), so the crown is at y=23; the hair rises to y=15. The hair spans x=153..302.
_CROWN_Y, _CHIN_Y = 23, 177
_HEAD_LEFT, _HEAD_RIGHT = 153, 302
_HEAD_CENTER_X = (_HEAD_LEFT + _HEAD_RIGHT) / 2
# The part of the picture the passport framing can ever need: head, neck and collar.
_REGION = (100, 0, 350, 260)  # x0, y0, x1, y1

WHITE = (255, 255, 255)
NAVY = (90, 60, 40)  # BGR: a dark studio backdrop, which Indonesian offices do not accept
PASSPORT_SIZE = (420, 540)  # width, height: 35x45 mm at 300 dpi


def _jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


@functools.lru_cache(maxsize=1)
def _astronaut_bgr() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@functools.lru_cache(maxsize=1)
def _person_alpha() -> np.ndarray:
    """Soft mask of the person (1) against the studio backdrop (0) inside _REGION.

    The backdrop is a mottled light grey: pixels close to its colour (in Lab, scaled by its own
    spread) and connected to the top or side edges are backdrop; everything else is the person.
    """
    x0, y0, x1, y1 = _REGION
    crop = _astronaut_bgr()[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(crop, (5, 5), 0), cv2.COLOR_BGR2LAB).astype(np.float32)
    samples = np.concatenate([lab[0:10, 0:30].reshape(-1, 3), lab[0:10, w - 30:].reshape(-1, 3),
                              lab[100:140, 0:15].reshape(-1, 3), lab[100:140, w - 15:].reshape(-1, 3)])
    mu, sd = samples.mean(axis=0), np.maximum(samples.std(axis=0), 2.0)
    near = (np.sqrt((((lab - mu) / sd) ** 2).sum(axis=-1)) < 6).astype(np.uint8)
    _, labels = cv2.connectedComponents(near)
    edge = set(labels[0, :].tolist()) | set(labels[:, 0].tolist()) | set(labels[:, -1].tolist())
    edge.discard(0)
    backdrop = np.isin(labels, sorted(edge)).astype(np.uint8)
    backdrop = cv2.morphologyEx(backdrop, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.GaussianBlur(1.0 - backdrop.astype(np.float32), (5, 5), 0)


def _backdrop(size: tuple[int, int], background: tuple[int, int, int] | np.ndarray) -> np.ndarray:
    width, height = size
    if isinstance(background, np.ndarray):
        return cv2.resize(background, (width, height)).astype(np.float32)
    return np.zeros((height, width, 3), np.float32) + np.array(background, np.float32)


def passport_photo(*, background: tuple[int, int, int] | np.ndarray = WHITE,
                   chin_crown_ratio: float = 0.72,
                   size: tuple[int, int] = PASSPORT_SIZE) -> np.ndarray:
    """The astronaut framed as a passport photo (BGR array): head composited on `background`
    (a BGR colour or an image), chin-to-crown `chin_crown_ratio` of the height."""
    x0, y0, x1, y1 = _REGION
    crop = _astronaut_bgr()[y0:y1, x0:x1].astype(np.float32)
    width, height = size
    out_h = (_CHIN_Y - _CROWN_Y) / chin_crown_ratio  # in source pixels
    out_w = out_h * width / height
    top = _CROWN_Y - 0.4 * (1 - chin_crown_ratio) * out_h  # 40% of the spare room above the crown
    left = _HEAD_CENTER_X - out_w / 2
    # One affine warp crops and scales with sub-pixel framing. Replicating the border extends
    # the backdrop upwards (row 0 of the mask is all backdrop) and the suit sideways and down.
    sx, sy = width / out_w, height / out_h
    m = np.array([[sx, 0, -(left - x0) * sx], [0, sy, -(top - y0) * sy]], np.float32)
    warp = functools.partial(cv2.warpAffine, M=m, dsize=(width, height), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REPLICATE)
    person = warp(crop)
    alpha = np.clip(warp(_person_alpha()), 0, 1)[..., None]
    framed = person * alpha + _backdrop(size, background) * (1 - alpha)
    return np.clip(framed, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=None)  # bytes are immutable: build once per test run
def passport_photo_jpeg() -> bytes:
    """Passes every rule: one face, chin-to-crown ~72% of the height, plain white background."""
    return _jpeg(passport_photo())


@functools.lru_cache(maxsize=None)
def two_faces_jpeg() -> bytes:
    """Two passport-framed heads side by side on white (840x540)."""
    one = passport_photo()
    return _jpeg(np.hstack([one, cv2.flip(one, 1)]))


@functools.lru_cache(maxsize=None)
def no_face_jpeg() -> bytes:
    """A cup of coffee (skimage `data.coffee()`, 600x400): an image, large enough, no face."""
    return _jpeg(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))


@functools.lru_cache(maxsize=None)
def dark_background_jpeg() -> bytes:
    """The passing photo with the backdrop swapped for dark navy: fails only the background rule."""
    return _jpeg(passport_photo(background=NAVY))


@functools.lru_cache(maxsize=None)
def busy_background_jpeg() -> bytes:
    """The passing photo in front of light but busy stripes: bright enough, not plain."""
    stripes = np.full((540, 420, 3), 250, np.uint8)
    for x in range(0, 420, 24):
        stripes[:, x:x + 12] = (120, 140, 150)
    return _jpeg(passport_photo(background=stripes))


@functools.lru_cache(maxsize=None)
def small_face_jpeg() -> bytes:
    """The whole astronaut portrait (512x512): one face, far below 70% of the height."""
    return _jpeg(_astronaut_bgr())


@functools.lru_cache(maxsize=None)
def close_up_jpeg() -> bytes:
    """A tight crop around the face, upscaled to 420x540: the face fills more than the frame."""
    crop = _astronaut_bgr()[50:205, 165:285]
    return _jpeg(cv2.resize(crop, PASSPORT_SIZE, interpolation=cv2.INTER_CUBIC))


@functools.lru_cache(maxsize=None)
def tiny_jpeg() -> bytes:
    """The passing photo shrunk to 300x386: below the 400x400 minimum."""
    return _jpeg(cv2.resize(passport_photo(), (300, 386), interpolation=cv2.INTER_AREA))


def not_an_image() -> bytes:
    """A PDF header: what arrives when someone uploads the wrong file."""
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"%" * 200


def fingerprint_array(width: int = 400, height: int = 500, period: float = 9.0) -> np.ndarray:
    """A synthetic flat impression: dark ridges (period ~9 px, i.e. ~0.46 mm at 500 ppi) in
    slightly elliptical rings around a core, inside a fingertip-shaped oval on white paper."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * 0.5, height * 0.45
    r = np.sqrt(((xx - cx) / 1.0) ** 2 + ((yy - cy) / 1.25) ** 2)
    ridges = 0.5 + 0.5 * np.cos(2 * np.pi * r / period)  # 1 = valley, 0 = ridge
    inside = ((xx - cx) / (width * 0.42)) ** 2 + ((yy - height * 0.5) / (height * 0.46)) ** 2 <= 1
    image = np.where(inside, 40 + 200 * ridges, 255)
    return image.astype(np.uint8)


@functools.lru_cache(maxsize=None)
def fingerprint_png() -> bytes:
    """A 400x500 grayscale PNG of a synthetic ridge pattern: passes the fingerprint checks."""
    return _png(fingerprint_array())


@functools.lru_cache(maxsize=None)
def blank_png() -> bytes:
    """A 400x500 light grey PNG with faint sensor noise: nearly uniform, no ridges."""
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 1.5, (500, 400))
    return _png(np.clip(230 + noise, 0, 255).astype(np.uint8))
