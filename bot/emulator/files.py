"""Stored files: uploads keep their bytes; photos get real sizes (read with Pillow)."""

from __future__ import annotations

import io
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import bad_request

# Telegram keeps a photo in several sizes; the smaller ones are generated thumbnails.
_THUMB_SIDES = (90, 320, 800)
_PREFIX = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI", "voice": "AwACAgIAAxkBAAI",
           "sticker": "CAACAgIAAxkBAAI"}  # fmt: skip
_FOLDER = {"photo": "photos", "document": "documents", "voice": "voice", "sticker": "stickers"}


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo, document, voice, sticker
    data: bytes
    file_path: str
    meta: dict[str, Any]  # the object Telegram returns (PhotoSize, Document, ...)


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    thumbnails: tuple[tuple[int, int, bytes], ...]


def analyse_image(data: bytes) -> ImageInfo:
    """Decode an uploaded photo (CPU work: run it in a thread)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            thumbs = tuple(
                _thumbnail(image, side) for side in _THUMB_SIDES if max(width, height) > side
            )
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise bad_request("IMAGE_PROCESS_FAILED") from exc
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return ImageInfo(width, height, thumbs)


def _thumbnail(image: Image.Image, side: int) -> tuple[int, int, bytes]:
    copy = image.convert("RGB")
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=80)
    return copy.width, copy.height, out.getvalue()


def sample_photo(width: int, height: int) -> bytes:
    """A JPEG a user 'takes' with their phone."""
    image = Image.new("RGB", (width, height), (70, 130, 180))
    image.paste((240, 200, 60), (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[dict[str, Any]]] = {}  # any size's file_id -> sizes
        self._counter = 0

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def by_path(self, path: str) -> StoredFile | None:
        return self._by_path.get(path)

    def _store(self, kind: str, data: bytes, extension: str, meta: dict[str, Any]) -> StoredFile:
        self._counter += 1
        file_id = _PREFIX[kind] + secrets.token_urlsafe(48)
        unique = "AQAD" + secrets.token_urlsafe(12)
        path = f"{_FOLDER[kind]}/file_{self._counter}{extension}"
        meta = {"file_id": file_id, "file_unique_id": unique, **meta, "file_size": len(data)}
        stored = StoredFile(file_id, unique, kind, data, path, meta)
        self._files[file_id] = stored
        self._by_path[path] = stored
        return stored

    def add_photo(self, data: bytes, info: ImageInfo) -> list[dict[str, Any]]:
        sizes = [
            self._store("photo", thumb, ".jpg", {"width": w, "height": h}).meta
            for w, h, thumb in info.thumbnails
        ]
        original = self._store("photo", data, ".jpg", {"width": info.width, "height": info.height})
        sizes.append(original.meta)
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return [dict(s) for s in sizes]

    def photo_sizes(self, file_id: str) -> list[dict[str, Any]] | None:
        sizes = self._photo_sets.get(file_id)
        return None if sizes is None else [dict(s) for s in sizes]

    def add_document(self, data: bytes, file_name: str, mime_type: str | None) -> dict[str, Any]:
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        extension = "." + file_name.rsplit(".", 1)[1] if "." in file_name else ""
        meta = {"file_name": file_name, "mime_type": mime}
        return dict(self._store("document", data, extension, meta).meta)

    def add_voice(self, duration: int) -> dict[str, Any]:
        data = b"OggS\x00\x02" + secrets.token_bytes(2000)  # not playable; only the shape matters
        meta = {"duration": duration, "mime_type": "audio/ogg"}
        return dict(self._store("voice", data, ".oga", meta).meta)

    def add_sticker(self, emoji: str) -> dict[str, Any]:
        meta = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "emoji": emoji,
            "is_animated": False,
            "is_video": False,
            "set_name": "EmulatorStickers",
        }
        return dict(self._store("sticker", b"RIFF\x00\x00\x00\x00WEBP", ".webp", meta).meta)

    def file_object(self, stored: StoredFile) -> dict[str, Any]:
        """The File object getFile returns."""
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
