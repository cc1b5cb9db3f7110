"""CRC32C (Castagnoli) and TensorFlow's checksum masking, backed by the ``google-crc32c`` library.

TF stores masked checksums everywhere (index block trailers, entry ``crc32c``, string length
checksums): ``Mask(c) = rotr15(c) + 0xa282ead8`` (format doc §4.5).
"""

from __future__ import annotations

from typing import Any

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF

#: True when google-crc32c runs its hardware-accelerated C implementation.
ACCELERATED: bool = google_crc32c.implementation == "c"


def crc32c(data: Any, crc: int = 0) -> int:
    """Return the CRC32C of ``data`` (any C-contiguous buffer), continuing from ``crc``."""
    if not isinstance(data, (bytes, np.ndarray)):
        # The C extension takes bytes and arrays but not memoryview/bytearray; wrap, don't copy.
        data = np.frombuffer(data, np.uint8)
    elif isinstance(data, np.ndarray) and data.dtype.hasobject:
        raise TypeError("cannot checksum an object array")
    if crc:
        return int(google_crc32c.extend(crc, data))
    return int(google_crc32c.value(data))


def crc32c_of_array(data: np.ndarray) -> int:
    """CRC32C of a contiguous array with no wrapper checks (for the reader's hot path)."""
    return int(google_crc32c.value(data))


def mask(crc: int) -> int:
    """Mask a CRC32C the way TF's ``crc32c::Mask`` does."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """Invert :func:`mask`."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32
