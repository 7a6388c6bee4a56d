"""Is a local model file whole? Checks that read headers only, fast enough for every listing.

A file is broken when it cannot be read (a link to a missing file, no permission), is empty, or is
shorter than its own header says (a copy or download cut short). Each problem is a
``BrokenFileError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

from ..errors import broken_file


def check_file(path: Path, *, model: str | None = None) -> None:
    """Raise ``BrokenFileError`` unless ``path`` can be read and, for weights, holds every byte its
    header describes. Reads headers only (no weights), so listings can check every file."""
    try:
        size = path.stat().st_size
        readable = os.access(path, os.R_OK)
    except OSError as exc:
        if path.is_symlink():
            raise broken_file(path, f"is a link to a missing file ({os.readlink(path)})", model=model) from None
        raise broken_file(path, f"cannot be read ({exc.strerror or exc})", model=model) from None
    if not readable:
        raise broken_file(path, "cannot be read (permission denied)", model=model)
    name = path.name.lower()
    if not name.endswith((".gguf", ".safetensors")):
        return
    if size == 0:
        raise broken_file(path, "is empty (0 bytes)", model=model)
    if name.endswith(".gguf"):
        _check_gguf(path, size, model)
    else:
        _check_safetensors(path, model)


def _check_gguf(path: Path, size: int, model: str | None) -> None:
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            end = gguf_data_end(buf)
    except (OSError, ValueError, struct.error, OverflowError) as exc:
        raise broken_file(path, f"is not a readable GGUF file ({exc})", model=model) from None
    if end > size:
        raise broken_file(path, f"is truncated: its header describes {end} bytes, the file holds {size}",
                          model=model)


def _check_safetensors(path: Path, model: str | None) -> None:
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:  # nothing can load it either; the backend says what to install
        return
    try:
        with safe_open(str(path), framework="numpy"):  # validates the header against the file size
            pass
    except (SafetensorError, OSError) as exc:
        raise broken_file(path, f"is not a readable safetensors file ({exc})", model=model) from None


def gguf_data_end(buf: Any) -> int:
    """The byte count a GGUF file must have: its header, then every tensor's data.

    gguf's ``GGUFReader`` decodes each vocabulary entry into numpy arrays (seconds for a chat
    model); this only walks the header, skipping values, which takes milliseconds. Raises
    ValueError (or ``struct.error`` past the end of ``buf``) when the header does not parse.
    """
    from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGMLQuantizationType, GGUFValueType

    if bytes(buf[:4]) != b"GGUF":
        raise ValueError("no GGUF magic number")
    order = "<"
    (version,) = struct.unpack_from("<I", buf, 4)
    if version & 0xFFFF == 0:  # written on a big-endian machine
        order = ">"
        (version,) = struct.unpack_from(">I", buf, 4)
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    u32, u64 = struct.Struct(order + "I"), struct.Struct(order + "Q")
    scalar: dict[int, int] = {GGUFValueType.UINT8: 1, GGUFValueType.INT8: 1, GGUFValueType.BOOL: 1, GGUFValueType.UINT16: 2,
              GGUFValueType.INT16: 2, GGUFValueType.UINT32: 4, GGUFValueType.INT32: 4, GGUFValueType.FLOAT32: 4,
              GGUFValueType.UINT64: 8, GGUFValueType.INT64: 8, GGUFValueType.FLOAT64: 8}
    n_tensors, n_kv = struct.unpack_from(order + "QQ", buf, 8)
    offset, alignment = 24, GGUF_DEFAULT_ALIGNMENT

    def skip(kind: int, at: int) -> int:
        if kind == GGUFValueType.STRING:
            return at + 8 + u64.unpack_from(buf, at)[0]
        if kind == GGUFValueType.ARRAY:
            item, count = u32.unpack_from(buf, at)[0], u64.unpack_from(buf, at + 4)[0]
            at += 12
            if item in scalar:
                return at + count * scalar[item]
            for _ in range(count):  # strings (or nested arrays): each carries its own length
                at = skip(item, at)
            return at
        if kind not in scalar:
            raise ValueError(f"unknown GGUF value type {kind}")
        return at + scalar[kind]

    for _ in range(n_kv):
        key_end = offset + 8 + u64.unpack_from(buf, offset)[0]
        key = bytes(buf[offset + 8:key_end])
        kind = u32.unpack_from(buf, key_end)[0]
        if key == b"general.alignment" and kind == GGUFValueType.UINT32:
            alignment = u32.unpack_from(buf, key_end + 4)[0]
        offset = skip(kind, key_end + 4)
        if offset > len(buf):
            raise ValueError("the metadata runs past the end of the file")
    if alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"invalid alignment {alignment}")
    data_end = 0
    for _ in range(n_tensors):
        offset += 8 + u64.unpack_from(buf, offset)[0]
        n_dims = u32.unpack_from(buf, offset)[0]
        if n_dims > 8:
            raise ValueError(f"a tensor with {n_dims} dimensions")
        dims = struct.unpack_from(f"{order}{n_dims}Q", buf, offset + 4)
        offset += 4 + 8 * n_dims
        kind, start = struct.unpack_from(order + "IQ", buf, offset)
        offset += 12
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        except (ValueError, KeyError):  # a type newer than the gguf package: only its start is known
            block, type_size = 1, 0
        elements = 1
        for d in dims:
            elements *= d
        data_end = max(data_end, start + elements * type_size // block)
    if offset > len(buf):
        raise ValueError("the tensor table runs past the end of the file")
    return offset + (-offset % alignment) + data_end
