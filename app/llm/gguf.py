"""Reads a GGUF file's header without loading the model.

llama.cpp aborts or crashes on some damaged files, so every model is checked
here first: the magic, the metadata, and that the file is long enough to hold
every tensor its header describes (a truncated download fails this check).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import UserError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
_MAX_STRING = 16 * 1024 * 1024
_MAX_COUNT = 1 << 31

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(13)
_SCALARS = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}

#: ggml tensor types: (elements per block, bytes per block). Types missing here
#: make the size check fall back to "at least the header".
_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
}


class GGUFError(UserError):
    """The file is missing, not GGUF, or damaged; ``str(err)`` is fit to show."""


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    size_bytes: int
    #: Bytes the header says the file needs; None if a tensor type is unknown.
    expected_bytes: int | None
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template.strip() else None

    @property
    def trained_context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def looks_instruction_tuned(self) -> bool:
        """Whether the model was tuned to chat, judged by its template or its name."""
        if self.chat_template:
            return True
        words = " ".join(
            str(self.metadata.get(key, "")) for key in ("general.finetune", "general.name", "general.basename")
        ).lower()
        words += " " + self.path.stem.lower()
        return any(tag in _TUNED_TAGS for tag in re.split(r"[\s\-_.]+", words))


_TUNED_TAGS = frozenset({"it", "instruct", "chat", "sft", "dpo", "rlhf"})


class _Reader:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size

    def take(self, n: int) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise GGUFError("the file ends inside its header (truncated)")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def count(self) -> int:
        n = self.unpack("<Q")
        if n > _MAX_COUNT:
            raise GGUFError("the header is damaged (impossible count)")
        return int(n)

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > _MAX_STRING or self.handle.tell() + n > self.size:
            raise GGUFError("it is truncated or damaged (its header runs past the end of the file)")
        return self.take(int(n)).decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind = self.unpack("<I")
            n = self.count()
            if item_kind in _SCALARS:
                width = struct.calcsize(_SCALARS[item_kind])
                if self.handle.tell() + n * width > self.size:
                    raise GGUFError("it is truncated or damaged (its header runs past the end of the file)")
                self.handle.seek(n * width, 1)
                return n
            for _ in range(n):
                self.value(item_kind)
            return n
        raise GGUFError(f"the header is damaged (unknown value type {kind})")


def read_gguf(path: str | Path) -> GGUFInfo:
    """Reads and checks a GGUF file's header.

    Raises:
        GGUFError: Missing, unreadable, not GGUF, an unsupported version, a
            damaged header, or shorter than its tensors need.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise GGUFError(f"{path} is not a file")
        with path.open("rb") as handle:
            return _parse(path, handle, size)
    except FileNotFoundError:
        raise GGUFError(f"The model file {path} does not exist") from None
    except PermissionError:
        raise GGUFError(f"The model file {path} cannot be read (permission denied)") from None
    except GGUFError as err:
        message = str(err)
        if message.startswith(str(path)) or message.startswith("The model file"):
            raise
        raise GGUFError(f"The model file {path} is not usable: {message}") from None


def _parse(path: Path, handle: BinaryIO, size: int) -> GGUFInfo:
    reader = _Reader(handle, size)
    magic = handle.read(4)
    if magic != MAGIC:
        raise GGUFError("it is not a GGUF model file")
    version = reader.unpack("<I")
    if version not in (2, 3):
        raise GGUFError(f"GGUF version {version} is not supported")
    tensor_count = reader.count()
    kv_count = reader.count()
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = reader.string()
        metadata[key] = reader.value(reader.unpack("<I"))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    end = 0
    known = True
    for _ in range(tensor_count):
        reader.string()
        dims = reader.unpack("<I")
        if dims > 8:
            raise GGUFError("the header is damaged (tensor with too many dimensions)")
        elements = 1
        for _ in range(dims):
            elements *= reader.unpack("<Q")
        ggml_type = reader.unpack("<I")
        offset = reader.unpack("<Q")
        if ggml_type not in _TYPE_SIZES:
            known = False
            continue
        block, block_bytes = _TYPE_SIZES[ggml_type]
        end = max(end, offset + (elements // block) * block_bytes)
    header_end = handle.tell()
    data_start = -(-header_end // alignment) * alignment
    expected = data_start + end if known else data_start
    if size < expected:
        raise GGUFError(f"it is truncated ({size:,} of {expected:,} bytes)")
    return GGUFInfo(
        path=path,
        version=version,
        size_bytes=size,
        expected_bytes=expected if known else None,
        tensor_count=tensor_count,
        metadata=metadata,
    )
