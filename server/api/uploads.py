"""A multipart/form-data upload streamed to disk: the file part goes straight into a file.

Starlette's ``request.form()`` would spool the whole video to a temporary file and the
handler would copy it again; here the body is parsed as it arrives and the file part is
written where its job will read it, stopping at the size limit.  Text fields are kept
in memory (small, bounded).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..service.errors import ServiceError

FILE_FIELDS = ("video", "file")
MAX_FIELD_BYTES = 256 * 1024
MAX_FIELDS = 50
FLUSH_BYTES = 1 << 20


class UploadTooLarge(ServiceError):
    status = 413


@dataclass
class Upload:
    path: Path | None = None  # where the file part was written (None: no file part)
    filename: str | None = None  # the client's file name, without folders
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def _disposition(headers: dict[str, bytes]) -> tuple[str | None, str | None]:
    value = headers.get("content-disposition")
    if not value:
        return None, None
    _, params = parse_options_header(value)
    name = params.get(b"name")
    filename = params.get(b"filename")
    return (
        name.decode("utf-8", "replace") if name is not None else None,
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


async def receive_upload(request: Request, dest: Path, limit: int) -> Upload:
    """Parse the request body; the (one) file part is written to ``dest``.

    Raises ``ServiceError`` (400) for a malformed body, ``UploadTooLarge`` (413) past
    ``limit`` bytes of file.  On any error nothing is left at ``dest``.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ServiceError("Send the video as multipart/form-data with a 'video' file field")

    upload = Upload()
    state: dict = {
        "headers": {},
        "header_field": b"",
        "header_value": b"",
        "name": None,
        "is_file": False,
        "buffer": bytearray(),
    }
    pending: list[bytes] = []
    out = None

    def on_part_begin():
        state.update(
            headers={},
            header_field=b"",
            header_value=b"",
            name=None,
            is_file=False,
            buffer=bytearray(),
        )

    def on_header_field(data, start, end):
        state["header_field"] += data[start:end]

    def on_header_value(data, start, end):
        state["header_value"] += data[start:end]

    def on_header_end():
        state["headers"][state["header_field"].decode("latin-1").lower()] = state["header_value"]
        state["header_field"] = state["header_value"] = b""

    def on_headers_finished():
        nonlocal out
        name, filename = _disposition(state["headers"])
        state["name"] = name
        if filename is not None and name in FILE_FIELDS:
            if out is not None:
                raise ServiceError("Send one video per request")
            state["is_file"] = True
            upload.filename = PurePath(filename.replace("\\", "/")).name[:255] or "upload"
            out = dest.open("wb")
            upload.path = dest
        elif len(upload.fields) >= MAX_FIELDS:
            raise ServiceError("Too many form fields")

    def on_part_data(data, start, end):
        chunk = data[start:end]
        if state["is_file"]:
            upload.size += len(chunk)
            if upload.size > limit:
                raise UploadTooLarge(f"Video too large (limit {limit // (1024 * 1024)} MB)")
            pending.append(chunk)
        else:
            state["buffer"] += chunk
            if len(state["buffer"]) > MAX_FIELD_BYTES:
                raise ServiceError(f"Form field '{state['name']}' is too large")

    def on_part_end():
        if not state["is_file"] and state["name"]:
            upload.fields[state["name"]] = state["buffer"].decode("utf-8", "replace")

    parser = MultipartParser(
        params[b"boundary"],
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )

    async def flush(force: bool = False):
        if out is not None and pending and (force or sum(map(len, pending)) >= FLUSH_BYTES):
            chunks = pending[:]
            pending.clear()
            await asyncio.to_thread(out.writelines, chunks)

    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                await flush()
            parser.finalize()
        except MultipartParseError:
            raise ServiceError("Malformed multipart body") from None
        await flush(force=True)
        if out is not None:
            await asyncio.to_thread(out.close)
    except BaseException:
        if out is not None:
            out.close()
            dest.unlink(missing_ok=True)
        raise
    return upload
