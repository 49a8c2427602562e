"""Does an image look like a friction-ridge print? Two measurements, both cheap (a few ms on a
500 ppi flat impression):

- colour: the share of clearly coloured pixels (HSV saturation above 60 on pixels that are not
  near black). A live scanner gives greyscale; a camera photo of a face, a hand or a document
  is colour (the seed face photo: 43% of its pixels).
- ridges: the image is cut into 48x48 px blocks (about 2.4 mm at 500 ppi: 3 to 8 ridges). A
  block is part of the print when its contrast is at least a third of the contrasty blocks',
  and ridge-like when, at once, most of its spectral energy lies at ridge periods of 4 to 24 px
  (0.2 to 1.2 mm at 500 ppi; adult ridges are about 0.45 mm apart, children's 0.3, and a
  1000 ppi scan doubles the pixel count) and its gradients share one orientation (coherence of
  the structure tensor, 1 for parallel lines, 0 for noise). A print has most of its blocks
  ridge-like; a face has few (only hair, collar lines).

Measured with `tests/photos.py` and skimage's sample images (share of ridge-like blocks):
synthetic prints 0.64-0.87 (periods 5-20 px, noise sigma 30, blur, JPEG q40, 1000 ppi),
the face photos 0.13-0.19, a cup of coffee 0.07, grass, gravel, noise and a page of text 0.0,
a brick wall 0.54 (a regular texture is the known false accept: it is not what desks upload).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BLOCK = 48
MIN_PERIOD, MAX_PERIOD = 4.0, 24.0  # px
_SATURATED, _NOT_DARK = 60, 40  # HSV saturation and value on 0-255


@dataclass(frozen=True)
class RidgeReport:
    ridge_share: float  # ridge-like blocks / print blocks
    print_blocks: int
    ridge_period: float | None  # median dominant period of the ridge-like blocks, px


def colour_share(image: np.ndarray) -> float:
    """Share of clearly coloured pixels of an 8-bit BGR image (0 for a grey one)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return float(((hsv[..., 1] > _SATURATED) & (hsv[..., 2] > _NOT_DARK)).mean())


def _blocks(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[0] - a.shape[0] % BLOCK, a.shape[1] - a.shape[1] % BLOCK
    return a[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)


def _coherence(g: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    xx, yy, xy = (_blocks(v).sum(axis=(1, 2)) for v in (gx * gx, gy * gy, gx * gy))
    return np.sqrt((xx - yy) ** 2 + 4 * xy ** 2) / np.maximum(xx + yy, 1e-6)


def _spectra(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(energy share at ridge periods, dominant period) per block."""
    window = np.outer(np.hanning(BLOCK), np.hanning(BLOCK)).astype(np.float32)
    centred = blocks - blocks.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(centred * window)) ** 2
    k = np.fft.fftfreq(BLOCK) * BLOCK
    radius = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)  # cycles per block
    band = (radius >= BLOCK / MAX_PERIOD) & (radius <= BLOCK / MIN_PERIOD)
    ac = radius >= 1  # leave out the mean and the slow shading of the finger
    share = power[:, band].sum(axis=1) / np.maximum(power[:, ac].sum(axis=1), 1e-6)
    peak = radius.reshape(-1)[np.argmax((power * ac).reshape(len(power), -1), axis=1)]
    return share, BLOCK / np.maximum(peak, 1e-6)


def ridge_report(gray: np.ndarray) -> RidgeReport:
    """Measure how much of an 8-bit greyscale image is a friction-ridge pattern."""
    g = gray.astype(np.float32)
    blocks = _blocks(g)
    contrast = blocks.std(axis=(1, 2))
    # Relative, so a light press (low contrast everywhere) is still measured; the blank check
    # before this one refuses an image with no contrast at all.
    in_print = contrast > max(2.0, np.percentile(contrast, 90) / 3)
    share, period = _spectra(blocks)
    ridge = in_print & (share > 0.6) & (_coherence(g) > 0.5)
    n = int(in_print.sum())
    return RidgeReport(ridge_share=float(ridge.sum()) / n if n else 0.0, print_blocks=n,
                       ridge_period=float(np.median(period[ridge])) if ridge.any() else None)
