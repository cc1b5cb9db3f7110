"""CRC32C (Castagnoli) and TensorFlow's checksum masking, backed by the ``google-crc32c`` library.

TF stores masked checksums everywhere (index block trailers, entry ``crc32c``, string length
checksums): ``Mask(c) = rotr15(c) + 0xa282ead8`` (format doc §4.5).

Two additions serve the reader's and writer's parallel paths: :func:`crc32c_nogil` checksums an
array without holding the GIL (so worker threads checksum on every core at once), and
:func:`crc32c_combine` joins the checksums of consecutive pieces into the checksum of the whole.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_POLY = 0x82F63B78  # the Castagnoli polynomial, bit-reversed (CRC32C is a reflected CRC)

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


def _load_extend() -> Callable[[int, int, int], int] | None:
    """google-crc32c's C ``crc32c_extend``, called through ctypes, or None where unavailable.

    The library's Python extension holds the GIL while it checksums; a ctypes call releases
    it, which is what lets several threads checksum one large tensor at once. The symbol is
    looked up through the extension module, which links the C library, so the bundled
    library's file name does not matter. Any failure (no C build, a platform whose loader does
    not search dependencies, a wrong answer on the check vector) falls back to the extension.
    """
    if not ACCELERATED:
        return None
    try:
        from google_crc32c import _crc32c

        function = ctypes.CDLL(_crc32c.__file__).crc32c_extend
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t)
    function.restype = ctypes.c_uint32
    check = b"123456789"  # the standard check input: its CRC32C is 0xE3069283
    if function(0, check, len(check)) != 0xE3069283:
        return None
    return function


_EXTEND = _load_extend()

#: True when :func:`crc32c_nogil` releases the GIL (else it is :func:`crc32c` by another name).
RELEASES_GIL: bool = _EXTEND is not None


def crc32c_nogil(data: np.ndarray, crc: int = 0) -> int:
    """CRC32C of a C-contiguous array, continuing from ``crc``, without holding the GIL.

    The caller keeps ``data`` alive and unchanged for the duration of the call.
    """
    if not data.flags.c_contiguous:
        raise ValueError("crc32c_nogil needs a C-contiguous array")
    if _EXTEND is None:
        return crc32c(data, crc)
    return int(_EXTEND(crc, data.ctypes.data, data.nbytes))


def _times_x(poly: int) -> int:
    """``poly * x`` modulo the Castagnoli polynomial, in the reflected bit order."""
    return (poly >> 1) ^ _POLY if poly & 1 else poly >> 1


def _multiply(a: int, b: int) -> int:
    """``a * b`` modulo the Castagnoli polynomial; bit 31 is the coefficient of ``x**0``."""
    product = 0
    for bit in range(31, -1, -1):
        if (a >> bit) & 1:
            product ^= b
        b = _times_x(b)
    return product


# _SHIFTS[k] = x ** (8 * 2**k) modulo the polynomial: appending 2**k zero bytes to a message
# multiplies its (unconditioned) CRC by it. Squaring steps from one to the next.
_ONE = 1 << 31
_SHIFTS: list[int] = []
_power = _ONE
for _ in range(8):  # x ** 8
    _power = _times_x(_power)
for _ in range(64):
    _SHIFTS.append(_power)
    _power = _multiply(_power, _power)
del _power


def crc32c_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC32C of ``A + B`` from ``crc32c(A)``, ``crc32c(B)`` and ``len(B)``.

    CRC32C's initial and final inversions cancel between the pieces, so the combined value is
    ``crc_a`` shifted past ``length_b`` zero bytes (multiplied by ``x ** (8 * length_b)``), xor
    ``crc_b``; the shift takes one multiplication per set bit of ``length_b``.
    """
    if length_b < 0:
        raise ValueError(f"length_b must be >= 0, got {length_b}")
    shifted = crc_a
    bit = 0
    while length_b:
        if length_b & 1:
            shifted = _multiply(_SHIFTS[bit], shifted)
        length_b >>= 1
        bit += 1
    return shifted ^ crc_b


def mask(crc: int) -> int:
    """Mask a CRC32C the way TF's ``crc32c::Mask`` does."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """Invert :func:`mask`."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32
