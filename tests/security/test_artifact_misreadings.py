"""Clean artifacts whose bytes merely look like pickle opcodes or a compressor's magic must pass.

Found in CI: a skops model written on 4 December between 01:16 and 01:23 failed the scan. Its zip header starts
`PK`, a text persistent id (PERSID) that runs to the first newline, here the high byte of the member's time;
the next byte, the low byte of the date, is 0x84 (EXT4) on that day, and the walker took the four bytes after
it for a copyreg extension code. No loader reads that far: pickle.load stops at the persistent id, and at any
extension code, since none is registered. The same class hit safetensors files whose header length ends in
0x82-0x84 (EXT1/2/4) or 0x5d (the lzma magic `5d 00 00`, which lzma refuses before giving out a byte). These
tests sweep the bytes that vary (times, dates, header lengths) instead of one case.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gates.core.result import Status
from gates.security.artifacts import scan_artifact, status_of


def _status(path: Path) -> tuple[Status, list[str]]:
    report = scan_artifact(path)
    return status_of(report, {}), [f"{h.rule}: {h.message}" for h in report.hits]


@pytest.fixture(scope="module")
def skops_members() -> list[tuple[str, bytes]]:
    """The members of a real skops file of a fitted scikit-learn pipeline (skops.io.dumps)."""
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, features[:, 0] > 0)
    archive = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model)))
    return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _rezip(
    members: list[tuple[str, bytes]], when: tuple[int, int, int, int, int, int], deflate: bool
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            archive.writestr(info, body)
    return buffer.getvalue()


@pytest.mark.parametrize("day", [(2026, 12, 4), (2027, 4, 2)])  # date low bytes 0x84 and 0x82 (EXT4, EXT1)
def test_a_skops_model_passes_at_every_minute_of_the_day(tmp_path, skops_members, day):
    path = tmp_path / "model.skops"
    failed = []
    for minute in range(24 * 60):
        path.write_bytes(_rezip(skops_members, (*day, minute // 60, minute % 60, 0), deflate=False))
        status, hits = _status(path)
        if status is not Status.PASS:
            failed.append((minute // 60, minute % 60, hits[:1]))
    assert not failed, failed[:3]


def test_pickle_load_stops_at_the_zip_header_the_walker_once_read_on(tmp_path, skops_members):
    """The real loader, in its own process, refuses the file that failed in CI at its first opcode."""
    path = tmp_path / "model.skops"
    path.write_bytes(_rezip(skops_members, (2026, 12, 4, 1, 16, 0), deflate=False))
    probe = "import pickle, sys\ntry:\n    pickle.loads(open(sys.argv[1], 'rb').read())\nexcept Exception as e:\n    print(type(e).__name__, e)"  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(path)], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("UnpicklingError") and "persistent" in out.stdout, out.stdout + out.stderr
    assert _status(path)[0] is Status.PASS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    when=st.tuples(
        st.integers(1980, 2107), st.integers(1, 12), st.integers(1, 28),
        st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    ),
    names=st.lists(st.from_regex(r"[a-z0-9_]{1,12}\.npy", fullmatch=True), min_size=1, max_size=4, unique=True),
    values=st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=40),
    deflate=st.booleans(),
)  # fmt: skip
def test_any_npz_of_numeric_arrays_passes(tmp_path, when, names, values, deflate):
    members = []
    for name in names:
        buffer = io.BytesIO()
        np.save(buffer, np.array(values, dtype=np.float32))
        members.append((name, buffer.getvalue()))
    path = tmp_path / "arrays.npz"
    path.write_bytes(_rezip(members, when, deflate))
    status, hits = _status(path)
    assert status is Status.PASS, hits


def test_safetensors_pass_for_every_low_byte_of_the_header_length(tmp_path):
    path = tmp_path / "model.safetensors"
    failed = []
    for low in range(256):
        header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
        header += b" " * ((low - len(header)) % 256)
        path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
        status, hits = _status(path)
        if status is not Status.PASS:
            failed.append((low, hits[:1]))
    assert not failed, failed[:3]


def test_an_extension_code_ends_the_reading_as_pickle_load_does(tmp_path):
    """An unregistered code stops pickle.load; after an import that is unreadable, alone it is no pickle."""
    alone = b"\x80\x02\x82\x01."
    with pytest.raises(ValueError, match="unregistered extension code"):
        pickle.loads(alone)
    path = tmp_path / "ext.pkl"
    path.write_bytes(alone)
    assert _status(path)[0] is Status.ERROR
    after_import = b"\x80\x02cos\nsystem\n\x82\x01."
    path.write_bytes(after_import)
    status, hits = _status(path)
    assert status is Status.FAIL and any("os.system" in hit for hit in hits), hits


def test_a_text_persistent_id_ends_the_reading_but_legacy_torch_integers_do_not(tmp_path):
    hidden = b"Pnot-a-storage\n" + pickle.dumps(print, protocol=2)
    path = tmp_path / "persid.pkl"
    path.write_bytes(hidden)
    assert _status(path)[0] is Status.ERROR  # no loader reads past the id, and nothing else takes the file
    numbered = b"(P0\nP1\nl."  # legacy torch's tar format: storages by number
    path.write_bytes(numbered)
    assert _status(path)[0] is Status.PASS


def test_a_damaged_compressed_stream_is_still_an_error(tmp_path):
    """Refused before any output means the compressed reading does not take the file; alone it is still no model."""
    import gzip

    body = gzip.compress(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    path = tmp_path / "model.joblib"
    path.write_bytes(body[:3] + b"\xff" + body[4:])  # flags byte with reserved bits: gzip refuses the header
    assert _status(path)[0] is Status.ERROR
    path.write_bytes(body[:-12])  # cut inside the deflate data, after output: unreadable
    status, hits = _status(path)
    assert status is Status.ERROR and any("gzip-compressed stream not readable" in hit for hit in hits), hits
