"""CRC32C and TF's masking (format doc §4.5), with the spec's check values."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckpt.format.crc import (
    ACCELERATED,
    RELEASES_GIL,
    crc32c,
    crc32c_combine,
    crc32c_nogil,
    mask,
    unmask,
)

MASK_DELTA = 0xA282EAD8


def reference_mask(c: int) -> int:
    """Mask as the spec states it: rotate right by 15, then add kMaskDelta, mod 2**32."""
    rotated = ((c >> 15) | (c << 17)) & 0xFFFFFFFF
    return (rotated + MASK_DELTA) & 0xFFFFFFFF


def test_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283


def test_empty_input_is_zero_and_masks_to_delta() -> None:
    assert crc32c(b"") == 0
    assert mask(0) == 0xA282EAD8
    assert unmask(0xA282EAD8) == 0


def test_extending_equals_one_shot() -> None:
    data = bytes(range(256)) * 3
    for cut in (0, 1, 5, 255, 300, len(data)):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


@pytest.mark.parametrize(
    "buffer",
    [
        bytearray(b"123456789"),
        memoryview(b"123456789"),
        np.frombuffer(b"123456789", np.uint8),
        memoryview(b"xx123456789xx")[2:-2],
    ],
)
def test_accepts_any_buffer(buffer: object) -> None:
    assert crc32c(buffer) == 0xE3069283


def test_numeric_array_is_hashed_as_its_bytes() -> None:
    values = np.array([1.0, 2.0], np.float32)
    assert crc32c(values) == crc32c(values.tobytes())


def test_object_array_is_refused() -> None:
    with pytest.raises(TypeError):
        crc32c(np.array([b"a"], dtype=object))


@pytest.mark.parametrize(
    ("data", "masked"),
    [
        # §4.3: zero-element string tensor, crc over the 4 stored bytes of Mask(0).
        (bytes.fromhex("d8ea82a2"), 0x640CC1F6),
        # §2.8: x = float32 [1, 2], entry crc field bytes 59 3c e5 35.
        (bytes.fromhex("0000803f00000040"), 0x35E53C59),
        # §2.8: data block trailer covers block bytes plus the type byte 00: c9 26 a0 28.
        (
            bytes.fromhex(
                "000006"
                "08011a020801"
                "00011173"
                "08071204120208022008280935d530d85f"
                "00010f78"
                "0801120412020802280835593ce535"
                "0000000001000000"
                "00"
            ),
            0x28A026C9,
        ),
        # §2.8: metaindex block (empty block) plus type byte: c0 f2 a1 b0.
        (bytes.fromhex("000000000100000000"), 0xB0A1F2C0),
    ],
)
def test_spec_masked_checksums(data: bytes, masked: int) -> None:
    assert mask(crc32c(data)) == masked


@pytest.mark.parametrize(
    "value", [0, 1, 0x7FFF, 0x8000, 0xFFFFFFFF, 0xE3069283, 0x12345678, 0x80000000]
)
def test_mask_matches_spec_formula_and_unmask_inverts(value: int) -> None:
    assert mask(value) == reference_mask(value)
    assert unmask(mask(value)) == value
    assert mask(unmask(value)) == value


def test_mask_changes_the_value() -> None:
    # Masking exists so that a crc of data containing crcs is not trivially related.
    assert mask(0xE3069283) != 0xE3069283


def test_accelerated_flag_is_bool() -> None:
    assert isinstance(ACCELERATED, bool)


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_combine_equals_checksum_of_concatenation(a: bytes, b: bytes) -> None:
    assert crc32c_combine(crc32c(a), crc32c(b), len(b)) == crc32c(a + b)


@pytest.mark.parametrize("length_b", [0, 1, 7, 8, 4096, (1 << 20) + 3])
def test_combine_long_second_piece(length_b: int) -> None:
    rng = np.random.default_rng(length_b)
    a = rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()
    b = rng.integers(0, 256, length_b, dtype=np.uint8).tobytes()
    assert crc32c_combine(crc32c(a), crc32c(b), len(b)) == crc32c(a + b)


def test_combine_rejects_negative_length() -> None:
    with pytest.raises(ValueError, match="length_b"):
        crc32c_combine(1, 2, -1)


def test_nogil_matches_extension_and_continues() -> None:
    data = np.random.default_rng(0).integers(0, 256, 100_003, dtype=np.uint8)
    assert crc32c_nogil(data) == crc32c(data)
    assert crc32c_nogil(data[10:], crc32c(data[:10])) == crc32c(data)
    assert crc32c_nogil(data[:0]) == 0
    with pytest.raises(ValueError, match="C-contiguous"):
        crc32c_nogil(data[::2])


@pytest.mark.skipif(not RELEASES_GIL, reason="no ctypes path to google-crc32c's C library here")
def test_nogil_lets_another_thread_run() -> None:
    # While one thread checksums 256 MiB, another must make progress: with the GIL held for
    # the whole call it could not count at all until the checksum ends.
    data = np.ones(256 << 20, np.uint8)
    counted = []
    started = threading.Event()
    done = threading.Event()

    def count() -> None:
        n = 0
        started.set()
        while not done.is_set():
            n += 1
        counted.append(n)

    thread = threading.Thread(target=count)
    thread.start()
    started.wait()
    crc32c_nogil(data)
    done.set()
    thread.join()
    assert counted[0] > 1000
