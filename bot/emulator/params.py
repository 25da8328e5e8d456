"""Request parameters, accepted every way Telegram accepts them: query string,
application/x-www-form-urlencoded, application/json and multipart/form-data (with files
either as the field itself or referenced as attach://<name>)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from .errors import ApiError, bad_request


@dataclass(frozen=True)
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload]) -> None:
        self.values = values
        self.uploads = uploads

    def has(self, name: str) -> bool:
        return name in self.values or name in self.uploads

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value, ensure_ascii=False)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes", "on")
        return bool(value)

    def obj(self, name: str) -> Any:
        """A JSON-typed parameter, sent either as a JSON string or inline in a JSON body."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def file(self, name: str) -> Upload | str | None:
        """An uploaded file, or the string given instead (a file_id or an HTTP URL)."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.text(name)
        if value and value.startswith("attach://"):
            attached = self.uploads.get(value[len("attach://") :])
            if attached is None:
                raise bad_request(f"wrong {name} attachment: file not found in the request")
            return attached
        return value or None

    def loggable(self) -> dict[str, Any]:
        """Parameters for the sent log; uploads described instead of copied."""
        data: dict[str, Any] = dict(self.values)
        for name, upload in self.uploads.items():
            data[name] = f"<upload {upload.filename or name}, {len(upload.data)} bytes>"
        return data


async def read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    content_type = request.content_type
    if request.method == "POST" and request.can_read_body:
        if content_type == "application/json":
            body = await _json_body(request)
            values.update(body)
        elif content_type.startswith("multipart/"):
            await _multipart(await request.multipart(), values, uploads)
        else:
            form = await request.post()
            values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return Params(values, uploads)


async def read_reply_params(reader: MultipartReader | None, body: bytes, kind: str) -> Params:
    """Parameters of a method returned in a webhook response body."""
    values: dict[str, Any] = {}
    uploads: dict[str, Upload] = {}
    if reader is not None:
        await _multipart(reader, values, uploads)
    elif kind == "application/json" and body:
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            values.update(loaded)
    return Params(values, uploads)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request: can't parse JSON encoded request")
    return body


async def _multipart(
    reader: MultipartReader, values: dict[str, Any], uploads: dict[str, Upload]
) -> None:
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=True)
        if part.filename is not None:
            content_type = part.headers.get("Content-Type")
            uploads[part.name] = Upload(part.filename, content_type, bytes(data))
        else:
            values[part.name] = bytes(data).decode("utf-8", "replace")
