"""The IDX reader: every type code and rank, raw or gzip, and every fault a DatasetError."""

import gzip
import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dlzero.datasets import DatasetError, idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# -- reading good files ----------------------------------------------------------------------


def test_hand_built_big_endian_files_read_in_native_order(tmp_path):
    # Built by hand, not by to_idx_bytes, so a byte-order mistake in both cannot cancel out.
    i16 = b"\x00\x00\x0b\x01" + struct.pack(">I", 3) + struct.pack(">3h", 1, -2, 300)
    f64 = b"\x00\x00\x0e\x02" + struct.pack(">II", 1, 2) + struct.pack(">2d", 0.5, -1e300)
    a = idx.read_idx(write(tmp_path / "a", i16))
    b = idx.read_idx(write(tmp_path / "b", f64))
    assert a.dtype == np.int16 and a.dtype.isnative and a.tolist() == [1, -2, 300]
    assert b.dtype == np.float64 and b.shape == (1, 2) and b.tolist() == [[0.5, -1e300]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (2, 3), (2, 0, 4), (2, 3, 4, 1)])
@pytest.mark.parametrize("gz", [False, True])
def test_every_type_code_and_rank_round_trips(tmp_path, dtype, shape, gz):
    a = (np.arange(int(np.prod(shape))) * 37 % 120 - 3).astype(dtype).reshape(shape)
    path = write(tmp_path / "f", idx.to_idx_bytes(a), gz=gz)
    b = idx.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(b, a)
    assert b.flags.writeable


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from(DTYPES),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    )
)
def test_round_trip_through_a_stream(a):
    b = idx.read_idx(io.BytesIO(idx.to_idx_bytes(a)))
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)


def test_gzip_is_told_by_content_not_by_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    raw_named_gz = write(tmp_path / "x.gz", idx.to_idx_bytes(a))
    gz_named_raw = write(tmp_path / "x-idx1-ubyte", idx.to_idx_bytes(a), gz=True)
    np.testing.assert_array_equal(idx.read_idx(raw_named_gz), a)
    np.testing.assert_array_equal(idx.read_idx(gz_named_raw), a)


def test_read_chunks_yields_whole_items_in_order():
    a = np.arange(1000, dtype=np.int32)
    stream = io.BytesIO(idx.to_idx_bytes(a))
    header = idx.read_header(stream, "s")
    assert header == idx.IdxHeader(np.dtype(">i4"), (1000,))
    assert (header.header_size, header.data_size) == (8, 4000)
    chunks = [c.copy() for c in idx.read_chunks(stream, header, "s", chunk_bytes=30)]
    assert {c.size for c in chunks[:-1]} == {7}  # 30 bytes round down to 7 whole int32 items
    np.testing.assert_array_equal(np.concatenate(chunks), a)


def test_to_idx_bytes_refuses_types_idx_lacks():
    for bad in (np.zeros(2, bool), np.zeros(2, np.int64), np.zeros(2, np.uint16)):
        with pytest.raises(ValueError, match="no type code"):
            idx.to_idx_bytes(bad)


# -- faults ----------------------------------------------------------------------------------

GOOD = idx.to_idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 3, 4))  # 16 + 48 bytes


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b"", "truncated: 0 bytes"),
        (b"\x00\x00\x08", "truncated: 3 bytes"),
        (b"\x12\x34\x56\x78" + GOOD[4:], "wrong magic number 0x12345678"),
        (b"\x01\x00" + GOOD[2:], "wrong magic number"),
        (b"\x00\x00\x0a\x03" + GOOD[4:], "wrong magic number 0x00000A03"),  # 0x0A: no type
        (GOOD[:10], "truncated header: 3 dimensions need 12 bytes of sizes, found 6"),
        (GOOD[:-1], "truncated: header says int16 (2, 3, 4), 48 bytes of data, found only 47"),
        (GOOD[:16], "found only 0"),
        (GOOD + b"\x00", "more bytes than the header says"),
        (GOOD[:4] + struct.pack(">III", 2, 3, 5) + GOOD[16:], "truncated"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_faulty_files_raise_dataset_error_naming_file_and_fault(tmp_path, content, fault, gz):
    path = write(tmp_path / "bad-file", content, gz=gz)
    with pytest.raises(DatasetError, match="bad-file") as info:
        idx.read_idx(path)
    assert fault in str(info.value)


def test_gzip_of_an_idx_file_read_raw_says_so():
    with pytest.raises(DatasetError, match="it is gzip data"):
        idx.read_idx(io.BytesIO(gzip.compress(GOOD)), name="s")


def test_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(GOOD)
    path = write(tmp_path / "cut.gz", packed[: len(packed) // 2])
    with pytest.raises(DatasetError, match=r"cut\.gz: truncated"):
        idx.read_idx(path)


def test_corrupt_gzip_data_and_crc(tmp_path):
    packed = bytearray(gzip.compress(GOOD))
    bad_crc = packed.copy()
    bad_crc[-8] ^= 0xFF  # the CRC-32 in the trailer: the data inflate fine but do not check
    path = write(tmp_path / "crc.gz", bytes(bad_crc))
    with pytest.raises(DatasetError, match=r"crc\.gz: corrupt gzip data \(CRC check failed"):
        idx.read_idx(path)
    bad_deflate = packed.copy()
    bad_deflate[10] = 0xFF  # the first deflate block header: 0b11 is a reserved block type
    path = write(tmp_path / "deflate.gz", bytes(bad_deflate))
    with pytest.raises(DatasetError, match=r"deflate\.gz: corrupt gzip data"):
        idx.read_idx(path)


def test_absurd_header_is_refused_before_allocating(tmp_path):
    # 4e9 ** 3 float64 items: without the size check this would be a MemoryError, or worse.
    huge = b"\x00\x00\x0e\x03" + struct.pack(">3I", 4_000_000_000, 4_000_000_000, 4_000_000_000)
    for gz, fault in [(False, "found only 64"), (True, "more than the file can hold")]:
        path = write(tmp_path / f"huge{gz}", huge + b"\x00" * 64, gz=gz)
        with pytest.raises(DatasetError, match=fault):
            idx.read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no-such-file: cannot open"):
        idx.read_idx(tmp_path / "no-such-file")


def test_read_chunks_reports_trailing_bytes_only_at_the_end():
    stream = io.BytesIO(GOOD + b"junk")
    header = idx.read_header(stream, "s")
    chunks = idx.read_chunks(stream, header, "s")
    assert next(chunks).size == 24  # the data itself is fine ...
    with pytest.raises(DatasetError, match="more bytes"):  # ... but the caller must finish
        next(chunks)
