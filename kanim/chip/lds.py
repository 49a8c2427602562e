"""The chip's data groups (9303 Part 10, LDS 1.7) built from what the office printed and
captured. Pure: bytes and dataclasses in, file contents out.

File names are the ones a chip image folder uses (`EF.COM`, `DG1.bin`, …, `EF.SOD`): the
folder the encoder receives and `kanim chip verify` reads."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kanim.chip import tlv

LDS_VERSION = b"0107"      # LDS 1.7
UNICODE_VERSION = b"040000"  # Unicode 4.0.0

# Data group number → (file tag, file name); EF.COM lists the tags of the groups present.
DG_TAGS = {1: 0x61, 2: 0x75, 3: 0x63}
COM, SOD = "EF.COM", "EF.SOD"


def dg_file(number: int) -> str:
    return f"DG{number}.bin"


@dataclass(frozen=True)
class Finger:
    """One captured finger: its ISO/IEC 19794-4 position (1 right thumb … 10 left little) and
    the PNG the capture desk accepted."""

    position: int
    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class ChipContent:
    """What goes on the chip, before signing."""

    mrz: tuple[str, str]
    face_jpeg: bytes
    face_width: int
    face_height: int
    sex: str  # the MRZ's M, F or X
    fingers: tuple[Finger, ...] = ()


def ef_com(groups: list[int]) -> bytes:
    tags = bytes(DG_TAGS[g] for g in sorted(groups))
    return tlv.encode(0x60, tlv.encode(0x5F01, LDS_VERSION) + tlv.encode(0x5F36, UNICODE_VERSION)
                      + tlv.encode(0x5C, tags))


def dg1(mrz: tuple[str, str]) -> bytes:
    """The MRZ exactly as printed: both TD3 lines, 88 characters, no separator."""
    text = (mrz[0] + mrz[1]).encode("ascii")
    if len(text) != 88:
        raise ValueError("a TD3 MRZ has two lines of 44 characters")
    return tlv.encode(0x61, tlv.encode(0x5F1F, text))


def dg2(content: ChipContent) -> bytes:
    record = face_record(content.face_jpeg, width=content.face_width, height=content.face_height, sex=content.sex)
    return tlv.encode(0x75, _biometric_group([(_header(biometric_type=0x02, format_type=0x0008), record)]))


def dg3(fingers: tuple[Finger, ...]) -> bytes:
    """One finger image record per captured finger (9303 allows one or more). A finger the desk
    recorded as missing, injured or unreadable has no image: 19794-4:2005 has no field for
    why, so the exceptions travel in the personalisation manifest (docs/chip.md)."""
    items = [(_header(biometric_type=0x08, format_type=0x0007, subtype=f.position), finger_record(f))
             for f in fingers]
    return tlv.encode(0x63, _biometric_group(items))


def _biometric_group(items: list[tuple[bytes, bytes]]) -> bytes:
    # Biometric Information Group Template (7F61): the count, then one template (7F60) each:
    # its header (A1) and the data block (5F2E).
    body = tlv.encode(0x02, bytes([len(items)]))
    for header, record in items:
        body += tlv.encode(0x7F60, tlv.encode(0xA1, header) + tlv.encode(0x5F2E, record))
    return tlv.encode(0x7F61, body)


def _header(*, biometric_type: int, format_type: int, subtype: int | None = None) -> bytes:
    """The CBEFF biometric header template: ICAO header version 1.1, the type, the format owner
    (ISO/IEC JTC 1 SC 37, 0x0101) and its format type (0x0008 face image, 0x0007 finger image)."""
    out = tlv.encode(0x80, b"\x01\x01") + tlv.encode(0x81, bytes([biometric_type]))
    if subtype is not None:
        out += tlv.encode(0x82, bytes([_finger_subtype(subtype)]))
    return out + tlv.encode(0x87, b"\x01\x01") + tlv.encode(0x88, format_type.to_bytes(2, "big"))


def _finger_subtype(position: int) -> int:
    # CBEFF subtype bits: 0x01 right / 0x02 left, then the finger (thumb 0x04 … little 0x14).
    side = 0x01 if position <= 5 else 0x02
    finger = (position - 1) % 5
    return side | (0x04 * (finger + 1))


GENDER = {"M": 1, "F": 2}


def face_record(jpeg: bytes, *, width: int, height: int, sex: str) -> bytes:
    """An ISO/IEC 19794-5:2005 face image record holding one full-frontal JPEG."""
    image_info = struct.pack(">BBHHBBHH", 1, 0, width, height, 1, 2, 0, 0)  # full frontal, JPEG, 24-bit RGB, digital still
    facial = struct.pack(">IHBBB3sH3s3s", 20 + len(image_info) + len(jpeg), 0, GENDER.get(sex, 0), 0, 0,
                         b"\x00\x00\x00", 0, b"\x00\x00\x00", b"\x00\x00\x00")
    body = facial + image_info + jpeg
    return b"FAC\x00010\x00" + struct.pack(">IH", 14 + len(body), 1) + body


def finger_record(f: Finger) -> bytes:
    """An ISO/IEC 19794-4:2005 finger image record: one plain live-scan view, PNG-compressed
    (compression code 5), 500 ppi as the capture desk requires."""
    view = struct.pack(">IBBBBBHHB", 14 + len(f.png), f.position, 1, 1, 254, 0, f.width, f.height, 0) + f.png
    length = 32 + len(view)
    general = (b"FIR\x00010\x00" + length.to_bytes(6, "big")
               + struct.pack(">HHBBHHHHBBH", 0, 31, 1, 1, 500, 500, 500, 500, 8, 5, 0))
    return general + view


def data_groups(content: ChipContent) -> dict[int, bytes]:
    groups = {1: dg1(content.mrz), 2: dg2(content)}
    if content.fingers:
        groups[3] = dg3(content.fingers)
    return groups


# -- reading back (QC and Passive Authentication) ------------------------------------------


def read_mrz(dg1_bytes: bytes) -> tuple[str, str]:
    text = tlv.first(tlv.unwrap(dg1_bytes, 0x61), 0x5F1F).decode("ascii")
    return text[:44], text[44:]


def read_face_jpeg(dg2_bytes: bytes) -> bytes:
    """The first face image of DG2 (what an inspection system shows the officer)."""
    group = tlv.first(tlv.unwrap(dg2_bytes, 0x75), 0x7F61)
    record = tlv.first(tlv.first(group, 0x7F60), 0x5F2E)
    if record[:8] != b"FAC\x00010\x00":
        raise tlv.TlvError("DG2 holds no ISO/IEC 19794-5 face record")
    return record[14 + 20 + 12:]


def listed_groups(com: bytes) -> list[int]:
    tags = tlv.first(tlv.unwrap(com, 0x60), 0x5C)
    by_tag = {v: k for k, v in DG_TAGS.items()}
    return sorted(by_tag.get(t, -1) for t in tags)
