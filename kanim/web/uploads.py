"""Reading an uploaded file without trusting its declared size."""

from __future__ import annotations

from fastapi import UploadFile

from kanim.domain.errors import InvalidInput, TooLarge


def read_upload(file: UploadFile, limit: int) -> bytes:
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the file is larger than the {limit}-byte limit")
    if not data:
        raise InvalidInput("the uploaded file is empty", code="upload-empty")
    return data
