"""FL/FD values in attribute formats: the text dcm4che gives them, and Java's ``Float/Double.toString``.

dcm4che's ``Attributes.getString`` of an FL or FD value is ``StringUtils.formatDS(float|double)``: Java's
``Float.toString`` / ``Double.toString``, then a ``.0`` before the end or before ``E`` dropped and (doubles only)
a text over 16 characters cut to 16 by dropping characters. The ``java`` column below is what OpenJDK 21/25
print (the ``Double.toString`` specification since JDK 19, which dcm4chee-arc's images run); the ``dcm4che``
column applies formatDS's rules to it. Where OpenJDK 17 prints something else, the comment says so.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from dcm_exporter._java_text import _repr_decimal, _shortest_decimal, dicom_ds_text, java_float_text
from dcm_exporter.attribute_format import AttributesFormat, java_string_hash


def f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def from_bits64(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def from_bits32(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


# (value, single, Java's toString, dcm4che's getString)
CASES = [
    (0.0, False, "0.0", "0"),
    (-0.0, False, "-0.0", "-0"),
    (1.0, False, "1.0", "1"),
    (100.0, False, "100.0", "100"),
    (-1.75, False, "-1.75", "-1.75"),
    (1e-5, False, "1.0E-5", "1E-5"),
    (0.001, False, "0.001", "0.001"),  # 10^-3: still plain
    (9.99e-4, False, "9.99E-4", "9.99E-4"),  # below 10^-3: scientific
    (9999999.0, False, "9999999.0", "9999999"),
    (1e7, False, "1.0E7", "1E7"),  # 10^7: scientific
    (123456.789, False, "123456.789", "123456.789"),
    (math.nan, False, "NaN", "NaN"),
    (math.inf, False, "Infinity", "Infinity"),
    (-math.inf, False, "-Infinity", "-Infinity"),
    (0.30000000000000004, False, "0.30000000000000004", "0.30000000000000"),  # cut, not rounded
    (123456789012.34567, False, "1.2345678901234567E11", "1.23456789012E11"),  # cut before the E
    (2.2250738585072014e-308, False, "2.2250738585072014E-308", "2.225073858E-308"),  # smallest normal
    (from_bits64(0x16E3600), False, "1.18575755E-316", "1.18575755E-316"),  # subnormal
    (5e-324, False, "4.9E-324", "4.9E-324"),  # Double.MIN_VALUE; Python's repr: 5e-324
    (1e23, False, "1.0E23", "1E23"),  # OpenJDK 17: 9.999999999999999E22
    (2.82879384806159e17, False, "2.82879384806159E17", "2.82879384806E17"),  # 17: 2.82879384806159008E17
    (1.7976931348623157e308, False, "1.7976931348623157E308", "1.7976931348E308"),
    (f32(0.1), True, "0.1", "0.1"),
    (f32(0.2), True, "0.2", "0.2"),
    (f32(1e-5), True, "1.0E-5", "1E-5"),
    (f32(1e7), True, "1.0E7", "1E7"),
    (1.0, True, "1.0", "1"),
    (-0.0, True, "-0.0", "-0"),
    (f32(16777216.0), True, "1.6777216E7", "1.6777216E7"),
    (f32(3.0e10), True, "3.0E10", "3E10"),  # OpenJDK 17: 3.0000001E10
    (from_bits32(1), True, "1.4E-45", "1.4E-45"),  # Float.MIN_VALUE (subnormal)
    (from_bits32(0x00800000), True, "1.1754944E-38", "1.1754944E-38"),  # smallest normal; 17: 1.17549435E-38
    (from_bits32(0x7F7FFFFF), True, "3.4028235E38", "3.4028235E38"),
    (1e39, True, "Infinity", "Infinity"),  # past the binary32 range: Java's (float) cast
    (math.nan, True, "NaN", "NaN"),
]


@pytest.mark.parametrize(("value", "single", "java", "dcm4che"), CASES)
def test_java_text_and_dcm4che_text(value: float, single: bool, java: str, dcm4che: str) -> None:
    assert java_float_text(value, single=single) == java
    assert dicom_ds_text(value, single=single) == dcm4che


def _dataset_from_bytes(ds: Dataset) -> Dataset:
    """``ds`` written and read back, so FL/FD values are decoded from their bytes as from a file."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_dataset(buffer, ds)
    buffer.seek(0)
    return read_dataset(buffer, is_implicit_VR=False, is_little_endian=True)


def test_storage_path_of_fl_and_fd_values_as_upstream() -> None:
    ds = Dataset()
    ds.DiffusionBValue = [1e-5, 1000.0, 0.30000000000000004]  # FD
    ds.RecommendedDisplayFrameRateInFloat = 0.1  # FL: stored as the binary32 value nearest 0.1
    ds.RealWorldValueSlope = -0.0  # FD
    fmt = AttributesFormat(
        "{DiffusionBValue}/{DiffusionBValue[1]}/{DiffusionBValue[2]}/{RecommendedDisplayFrameRateInFloat}"
        "/{RealWorldValueSlope}/{DiffusionBValue,hash}"
    )
    expected = "1E-5/1000/0.30000000000000/0.1/-0/" + java_string_hash("1E-5")
    assert fmt.format_path(ds) == expected
    assert fmt.format_path(_dataset_from_bytes(ds)) == expected


def test_number_type_reads_the_binary_value_not_its_text() -> None:
    # upstream's number type is Attributes.getDouble: the FL value 0.1f widened to 0.10000000149011612
    ds = Dataset()
    ds.RecommendedDisplayFrameRateInFloat = 0.1
    ds.DiffusionBValue = 0.30000000000000004
    assert AttributesFormat("{RecommendedDisplayFrameRateInFloat,number,0.000000000}").format(ds) == "0.100000001"
    assert AttributesFormat("{DiffusionBValue,number,0.00000000000000000}").format(ds) == "0.30000000000000004"
    read_back = _dataset_from_bytes(ds)
    assert AttributesFormat("{RecommendedDisplayFrameRateInFloat,number,0.000000000}").format(read_back) == (
        "0.100000001"
    )


@given(st.floats(min_value=0.0, exclude_min=True, allow_infinity=False))
def test_both_paths_of_a_double_agree_and_read_back(value: float) -> None:
    c, q = _repr_decimal(value)
    if c >= 10:  # the fast path is taken only for two digits or more
        assert _shortest_decimal(value, single=False) == (c, q)
    assert float(java_float_text(value)) == value


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_a_float_reads_back_as_the_same_binary32(value: float) -> None:
    text = java_float_text(value, single=True)
    assert f32(float(text)) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)


# --- against a local JDK 19+, when there is one ------------------------------------------------------------

_HARNESS = """
public class ToStrings {
  public static void main(String[] a) throws Exception {
    var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    var out = new StringBuilder();
    for (String line; (line = in.readLine()) != null; ) {
      if (line.charAt(0) == 'f')
        out.append(Float.toString(Float.intBitsToFloat((int) Long.parseLong(line.substring(1), 16))));
      else
        out.append(Double.toString(Double.longBitsToDouble(Long.parseUnsignedLong(line.substring(1), 16))));
      out.append('\\n');
    }
    System.out.print(out);
  }
}
"""


def _java_major(java: str) -> int:
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for token in done.stderr.split():
        token = token.strip('"')
        if token[:2].isdigit():
            return int(token.split(".")[0])
    return 0


def _jdk19() -> str | None:
    """A ``java`` launcher of JDK 19 or later (JAVA_HOME, PATH, then /usr/lib/jvm), or None."""
    found = [os.path.join(os.environ["JAVA_HOME"], "bin", "java")] if os.environ.get("JAVA_HOME") else []
    found += [p for p in (shutil.which("java"),) if p]
    found += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    return next((j for j in found if os.path.exists(j) and _java_major(j) >= 19), None)


def test_matches_a_local_jdk(tmp_path: Path) -> None:
    java = _jdk19()
    if java is None:
        pytest.skip("no JDK 19 or later here (JAVA_HOME, PATH, /usr/lib/jvm)")
    rng = random.Random(20261206)
    lines = [f"d{rng.getrandbits(64):016x}" for _ in range(3000)]
    lines += [f"f{rng.getrandbits(32):08x}" for _ in range(3000)]
    for _ in range(1000):  # values as written by people: a few decimals
        v = round(rng.uniform(-1000, 1000), rng.randint(0, 6))
        lines.append(f"d{struct.unpack('<Q', struct.pack('<d', v))[0]:016x}")
        lines.append(f"f{struct.unpack('<I', struct.pack('<f', v))[0]:08x}")
    source = tmp_path / "ToStrings.java"
    source.write_text(_HARNESS)
    done = subprocess.run(
        [java, str(source)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300, check=True
    )
    expected = done.stdout.splitlines()
    assert len(expected) == len(lines)
    for line, want in zip(lines, expected, strict=True):
        bits = int(line[1:], 16)
        single = line[0] == "f"
        value = from_bits32(bits) if single else from_bits64(bits)
        assert java_float_text(value, single=single) == want, line


# --- the other binary VRs: what dcm4che's getString gives their n-th number ------------------------------


def _binary_dataset(little: bool = True) -> Dataset:
    e = "<" if little else ">"
    ds = Dataset()
    ds.SelectorOBValue = b"\xff\x01"
    ds.SelectorOWValue = struct.pack(e + "hh", -1, 2)
    ds.SelectorOLValue = struct.pack(e + "i", -2)
    ds.SelectorOVValue = struct.pack(e + "q", -(2**40))
    ds.SelectorOFValue = struct.pack(e + "ff", 0.1, 3e10)
    ds.SelectorODValue = struct.pack(e + "d", 1e-5)
    ds.FrameIncrementPointer = 0x00181063
    return ds


BINARY_FIELDS = (
    "{SelectorOBValue}/{SelectorOBValue[1]}/{SelectorOWValue}/{SelectorOWValue[1]}/{SelectorOLValue}/"
    "{SelectorOVValue}/{SelectorOFValue}/{SelectorOFValue[1]}/{SelectorODValue}/{SelectorODValue[1]}/"
    "{FrameIncrementPointer}"
)
# BinaryValueType: BYTE, SHORT, INT, LONG read signed; FLOAT and DOUBLE through formatDS; TAG as 8 hex digits;
# a value index past the end gives null (the empty string)
BINARY_UPSTREAM = "-1/1/-1/2/-2/-1099511627776/0.1/3E10/1E-5//00181063"


def test_other_binary_vrs_as_upstream_reads_them() -> None:
    ds = _binary_dataset()
    assert AttributesFormat(BINARY_FIELDS).format(ds) == BINARY_UPSTREAM
    assert AttributesFormat(BINARY_FIELDS).format(_dataset_from_bytes(ds)) == BINARY_UPSTREAM


def test_binary_values_of_a_big_endian_file_are_read_in_its_byte_order() -> None:
    buffer = DicomBytesIO()
    buffer.is_little_endian = False
    buffer.is_implicit_VR = False
    write_dataset(buffer, _binary_dataset(little=False))
    buffer.seek(0)
    read = read_dataset(buffer, is_implicit_VR=False, is_little_endian=False)
    assert read.original_encoding == (False, False)
    assert AttributesFormat(BINARY_FIELDS).format(read) == BINARY_UPSTREAM
