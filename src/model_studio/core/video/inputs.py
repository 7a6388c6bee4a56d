"""What a generation is given: the input image of image-to-video (decoded before queueing) and the LoRA path."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailableError, NotFoundError, ValidationError

MAX_IMAGE_BYTES = 32 << 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # text ending so is a path (base64 never does)


def decode_base64(text: Any, field: str = "image") -> bytes:
    """The bytes of an image given as base64 text (a ``data:`` URL too); never read as a file path."""
    if not isinstance(text, str):
        raise ValidationError(f"{field} must be base64 text", details={"field": field})
    text = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 8:
        raise ValidationError(f"The {field} is too large", details={"field": field, "max_bytes": MAX_IMAGE_BYTES})
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{field} must be a file path, PNG/JPEG bytes or base64 text" if field in ("image", "last_image")
                              else f"{field} must be base64 text (PNG, JPEG or WebP)",
                              details={"field": field}) from None


def _decode_image(image: Any, field: str = "image") -> Any:
    """A PIL RGB image from a path, bytes, base64 (or data: URL) text or a PIL image.

    ``field`` names the argument in errors (``image``, or ``last_image`` for the last frame).
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise BackendUnavailableError("Image-to-video needs Pillow", resolution_steps=["pip install pillow"]) from None
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    data: bytes
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
    elif isinstance(image, Path) or (isinstance(image, str) and len(image) < 4096 and (
            image.lower().endswith(IMAGE_SUFFIXES) or Path(image).expanduser().is_file())):
        path = Path(image).expanduser()
        if not path.is_file():
            raise NotFoundError(f"No image file at {image}", details={"field": field, "image": str(image)},
                                resolution_steps=["Give the path of a PNG, JPEG or WebP file"])
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ValidationError(f"The {field} is too large", details={"field": field, "max_bytes": MAX_IMAGE_BYTES})
        data = path.read_bytes()
    elif isinstance(image, str):
        data = decode_base64(image, field)
    else:
        raise ValidationError(f"{field} must be a path, bytes, base64 text or a PIL image, not {type(image).__name__}",
                              details={"field": field})
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValidationError(f"The {field} could not be read (PNG, JPEG or WebP expected)",
                              details={"field": field, "bytes": len(data)}) from None


def _check_lora(lora: str) -> Path:
    if not isinstance(lora, str):
        raise ValidationError("lora must be the path of a .safetensors file or a folder", details={"field": "lora"})
    path = Path(lora).expanduser()
    if not path.exists():
        raise NotFoundError(f"No LoRA weights at {lora}", details={"field": "lora", "lora": lora},
                            resolution_steps=["Give the path of a .safetensors LoRA file or of a folder that holds one"])
    if path.is_file() and path.suffix != ".safetensors":
        raise ValidationError("LoRA weights must be a .safetensors file", details={"field": "lora", "lora": lora})
    if path.is_dir() and not any(path.glob("*.safetensors")):
        raise ValidationError("The LoRA folder holds no .safetensors file", details={"field": "lora", "lora": lora})
    return path.resolve()
