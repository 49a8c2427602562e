"""A face video for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE`), made from
the seed's passport photo (kanim/seed_data/face.jpg) with OpenCV: a landscape desk camera's
picture (960x540, the photo centred on white, swaying by a pixel or two so that it is a video),
written as Y4M (4:2:0), which Chromium reads frame by frame and loops.

The console's camera cuts the full height at 35:45 out of the middle of the picture, which is
the photo itself (420x540): the still it sends passes the photo checks. Write the file under a
temporary directory: it is a few MB and is never committed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kanim.seed import SEED_DATA

SIZE = (960, 540)  # width, height: the photo's own height, so nothing is scaled
FPS = 10


def face_frames(frames: int = 6, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    face = cv2.imread(str(SEED_DATA / "face.jpg"))
    width, height = size
    face = cv2.resize(face, (round(face.shape[1] * height / face.shape[0]), height), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(frames):
        frame = np.full((height, width, 3), 255, np.uint8)
        x = (width - face.shape[1]) // 2 + (i % 3) - 1  # a sway of one pixel each way
        frame[:, x:x + face.shape[1]] = face
        out.append(frame)
    return out


def write_face_y4m(path: Path, frames: int = 6, size: tuple[int, int] = SIZE) -> Path:
    """The face video as YUV4MPEG2 (C420: planar Y, then U and V at half resolution)."""
    width, height = size
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in face_frames(frames, size):
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
