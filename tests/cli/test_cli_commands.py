"""The ``ckpt`` command: ls, show, diff, verify, latest, exit codes and error messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ckpt

COMMANDS = ("ls", "show", "diff", "verify", "latest", "convert")


# --- help and usage ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_everywhere(ckpt_command, command):
    result = ckpt_command(*command, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith(f"usage: ckpt {' '.join(command)}".rstrip())


def test_python_dash_m(fixtures):
    proc = subprocess.run(
        [sys.executable, "-m", "ckpt", "latest", fixtures / "tf2_object"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ckpt-2")


@pytest.mark.parametrize(
    "argv", [(), ("frobnicate",), ("ls",), ("diff", "a"), ("diff", "a", "b", "--rtol", "-1")]
)
def test_usage_errors_exit_2(cli, argv):
    result = cli(*argv)
    assert result.code == 2
    assert "usage: ckpt" in result.err


# --- errors: exit 1, one line, no traceback ---------------------------------------------------


def _garbage_index(tmp_path: Path) -> Path:
    (tmp_path / "bad.index").write_bytes(b"\x00" * 100)
    return tmp_path / "bad"


@pytest.mark.parametrize("command", ["ls", "verify", "show", "diff"])
@pytest.mark.parametrize("bad", ["missing", "v1", "garbage", "empty_dir"])
def test_bad_paths_give_one_line(ckpt_command, fixtures, tmp_path, command, bad):
    path = {
        "missing": tmp_path / "nope",
        "v1": fixtures / "tf1_v1" / "model.ckpt",
        "garbage": _garbage_index(tmp_path),
        "empty_dir": tmp_path,
    }[bad]
    argv = {
        "ls": ("ls", path),
        "verify": ("verify", path),
        "show": ("show", path, "w"),
        "diff": ("diff", fixtures / "tf1_saver", path),
    }[command]
    result = ckpt_command(*argv)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("ckpt: error: ")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err


def test_missing_key(cli, fixtures):
    result = cli("show", fixtures / "tf1_saver", "no/such/key")
    assert result.code == 1
    assert result.err.startswith("ckpt: error: ") and "no/such/key" in result.err


# --- ls -------------------------------------------------------------------------------------


def test_ls_json(cli, fixtures):
    result = cli("ls", "--json", fixtures / "tf1_saver")
    assert result.code == 0, result.err
    listing = json.loads(result.out)
    by_name = {t["name"]: t for t in listing["tensors"]}
    assert sorted(by_name) == ["dense/bias", "dense/kernel", "global_step", "scope/u", "scope/w"]
    assert by_name["scope/w"] == {
        "name": "scope/w",
        "dtype": "float32",
        "shape": [10, 3],
        "nbytes": 120,
        "shard": None,
        "slices": ["0,4:0,3", "4,3:0,3", "7,3:0,3"],
    }
    assert by_name["global_step"]["dtype"] == "int64" and by_name["global_step"]["shard"] == 0
    assert listing["totals"] == {
        "tensors": 5,
        "nbytes": sum(t["nbytes"] for t in listing["tensors"]),
        "shards": 1,
    }
    assert listing["prefix"].endswith("model.ckpt-7")


def test_ls_human(cli, fixtures):
    result = cli("ls", fixtures / "tf_multishard" / "merged")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["dtype", "shape", "size", "shard", "name"]
    (sliced,) = [line for line in lines if line.split()[-1:] != [] and " p " in f" {line} "]
    assert "(sliced: 0,3:0,2 3,3:0,2)" in sliced
    assert lines[-1].startswith("5 tensors, 422 B") and lines[-1].endswith("2 shard(s)")
    assert "\x1b[" not in result.out  # no colour when not a terminal


def test_ls_tree(cli, fixtures):
    result = cli("ls", "--tree", fixtures / "tf2_object")
    assert result.code == 0, result.err
    assert "model/table/a.Sb..c/.ATTRIBUTES/VARIABLE_VALUE" in result.out  # never cropped
    assert "save_counter" in result.out and "bfloat16 [2]" in result.out
    nodes = json.loads(cli("ls", "--tree", "--json", fixtures / "tf2_object").out)
    assert nodes[0]["path"] == ""
    assert {c["name"] for c in nodes[0]["children"]} == {"model", "save_counter"}


def test_ls_tree_of_name_based_checkpoint(cli, fixtures):
    result = cli("ls", "--tree", fixtures / "tf1_saver")
    assert result.code == 1
    assert "name-based" in result.err


def test_ls_does_not_import_heavy_modules(fixtures):
    code = (
        "import sys; from ckpt.cli.main import main; "
        f"main(['ls', {str(fixtures / 'tf_dtypes' / 'dtypes')!r}]); "
        "heavy = [m for m in ('rich', 'torch', 'tensorflow', 'jax') if m in sys.modules]; "
        "sys.stderr.write(repr(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "[]"


# --- show -----------------------------------------------------------------------------------


def test_show_stats(cli, tmp_path):
    values = np.array([[1.0, 2.0, np.nan], [np.inf, -3.0, 4.0]], np.float32)
    ckpt.write_tensors(str(tmp_path / "c"), {"w": values, "s": np.array([b"ab", b"", b"xyz"])})
    stats = json.loads(cli("show", "--json", tmp_path / "c", "w:0").out)["stats"]
    finite = np.array([1.0, 2.0, -3.0, 4.0])
    assert stats["min"] == -3.0 and stats["max"] == 4.0
    assert stats["mean"] == pytest.approx(finite.mean())
    assert stats["std"] == pytest.approx(finite.std())
    assert (stats["nan"], stats["inf"], stats["count"]) == (1, 1, 6)
    strings = json.loads(cli("show", "--json", tmp_path / "c", "s").out)
    assert strings["stats"] == {"count": 3, "min_length": 0, "max_length": 3}
    assert strings["head"] == ["ab", "", "xyz"]
    human = cli("show", tmp_path / "c", "w")
    assert human.code == 0 and "nan" in human.out and "mean" in human.out


@pytest.mark.parametrize("key", ["bfloat16/matrix", "float8_e4m3fn/matrix", "int4/matrix"])
def test_show_ml_dtypes_through_float32(cli, fixtures, key):
    prefix = fixtures / "tf_dtypes" / "dtypes"
    shown = json.loads(cli("show", "--json", "--full", prefix, key).out)
    value = ckpt.load_variable(prefix, key).astype(np.float32)
    finite = value[np.isfinite(value)]
    assert shown["dtype"] == key.split("/")[0]
    assert shown["stats"]["max"] == finite.max() and shown["stats"]["min"] == finite.min()
    assert shown["stats"]["nan"] == int(np.isnan(value).sum())
    assert np.array(shown["values"], dtype=object).shape == value.shape


def test_show_abbreviates_unless_full(cli, tmp_path):
    ckpt.write_tensors(str(tmp_path / "c"), {"big": np.arange(10_000, dtype=np.int64)})
    short, full = cli("show", tmp_path / "c", "big"), cli("show", "--full", tmp_path / "c", "big")
    assert "..." in short.out and "9999" in short.out and "5000" not in short.out
    assert "..." not in full.out and "5000" in full.out


# --- diff -----------------------------------------------------------------------------------


def test_diff_exit_codes(cli, fixtures, tmp_path):
    same = cli("diff", fixtures / "tf2_object" / "ckpt-2", fixtures / "tf2_object")
    assert same.code == 0, same.err
    assert "13 identical, 0 changed" in same.out
    different = cli("diff", "--json", fixtures / "tf2_object" / "ckpt-1", fixtures / "tf2_object")
    assert different.code == 1
    report = json.loads(different.out)
    assert not report["equal"] and report["changed"]


def test_diff_reports_keys_shapes_values_and_tolerance(cli, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    w = np.array([1.0, 2.0, 4.0], np.float32)
    ckpt.write_tensors(a, {"w": w, "gone": np.zeros(1), "shape": np.zeros(2), "s": np.array(b"x")})
    ckpt.write_tensors(
        b,
        {
            "w": w + np.float32([0, 0, 0.5]),
            "new": np.zeros(1),
            "shape": np.zeros(3),
            "s": np.array(b"x"),
        },
    )
    result = cli("diff", "--json", a, b)
    assert result.code == 1
    report = json.loads(result.out)
    assert report["removed"] == ["gone"] and report["added"] == ["new"]
    assert report["identical"] == 1
    changed = {c["name"]: c for c in report["changed"]}
    assert changed["shape"]["shape"] == [[2], [3]]
    assert changed["w"]["max_abs"] == 0.5
    assert changed["w"]["max_rel"] == pytest.approx(0.5 / 4.5)
    assert changed["w"]["elements"] == 1
    human = cli("diff", a, b)
    assert "- gone" in human.out.replace("  ", " ") and "+ new" in human.out.replace("  ", " ")

    ckpt.write_tensors(
        b,
        {
            "w": w + np.float32([0, 0, 0.5]),
            "gone": np.zeros(1),
            "shape": np.zeros(2),
            "s": np.array(b"x"),
        },
    )
    assert cli("diff", a, b).code == 1
    assert cli("diff", "--atol", "0.5", a, b).code == 0
    assert cli("diff", "--rtol", "0.12", a, b).code == 0
    assert cli("diff", "--rtol", "0.1", a, b).code == 1


def test_diff_nan_equals_nan(cli, tmp_path):
    values = np.array([np.nan, 1.0, np.inf])
    ckpt.write_tensors(str(tmp_path / "a"), {"x": values})
    ckpt.write_tensors(str(tmp_path / "b"), {"x": values.copy()})
    assert cli("diff", tmp_path / "a", tmp_path / "b").code == 0


# --- verify ---------------------------------------------------------------------------------


def _bad_keys(prefix: Path) -> set[str]:
    bad = set()
    with ckpt.load_checkpoint(prefix) as reader:
        for key in reader:
            try:
                reader.verify(key)
            except ckpt.errors.CheckpointError:
                bad.add(key)
    return bad


def test_verify_clean(ckpt_command, fixtures):
    result = ckpt_command("verify", fixtures / "tf_dtypes" / "dtypes")
    assert result.code == 0, result.err
    assert result.out.startswith("OK")
    assert result.err == ""  # no progress bar when stderr is not a terminal


def test_verify_names_corrupt_tensor(ckpt_command, fixtures, tmp_path):
    shutil.copytree(fixtures / "tf1_saver", tmp_path / "c")
    data = tmp_path / "c" / "model.ckpt-7.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[20] ^= 0xFF
    data.write_bytes(bytes(raw))
    bad = _bad_keys(tmp_path / "c")
    assert len(bad) == 1
    result = ckpt_command("verify", tmp_path / "c")
    assert result.code == 1
    (bad_line,) = [line for line in result.out.splitlines() if line.startswith("BAD")]
    assert bad.pop() in bad_line and "ChecksumMismatchError" in bad_line
    assert "Traceback" not in result.err


def test_verify_missing_and_truncated_shards(cli, fixtures, tmp_path):
    shutil.copytree(fixtures / "tf_multishard", tmp_path / "c")
    shard = tmp_path / "c" / "merged.data-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:10])
    report = json.loads(cli("verify", "--json", tmp_path / "c" / "merged").out)
    assert not report["ok"]
    assert {e["name"] for e in report["errors"]} == {"b/y", "b/z", "p"}
    shard.unlink()
    result = cli("verify", tmp_path / "c" / "merged")
    assert result.code == 1
    assert result.out.count("BAD") == 3 and "missing" in result.out


# --- latest ---------------------------------------------------------------------------------


def test_latest(cli, fixtures, tmp_path):
    result = cli("latest", fixtures / "tf2_object")
    assert (result.code, result.out) == (0, str(fixtures / "tf2_object" / "ckpt-2") + "\n")
    empty = cli("latest", tmp_path)
    assert empty.code == 1 and empty.out == "" and empty.err.startswith("ckpt: error: ")
    assert cli("latest", tmp_path / "nope").code == 1


def test_latest_without_state_file_takes_the_newest_index(cli, tmp_path):
    import os

    import numpy as np

    import ckpt

    old = ckpt.write_tensors(str(tmp_path / "ckpt-2"), {"a": np.zeros(1)})
    new = ckpt.write_tensors(str(tmp_path / "ckpt-1"), {"a": np.zeros(1)})
    os.utime(old + ".index", ns=(1_000_000_000, 1_000_000_000))  # older than ckpt-1's
    (tmp_path / "ckpt-3.index.tempstate123").write_bytes(b"")  # a write in progress: ignored
    result = cli("latest", tmp_path)
    assert (result.code, result.out) == (0, new + "\n")
    assert "no 'checkpoint' file" in result.err


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.int64(2**53), np.int64(2**53 + 1)),  # equal once converted to float64
        (np.array([2**62, 1], np.int64), np.array([2**62 + 1, 1], np.int64)),
        (np.uint64(2**63 - 1), np.uint64(2**63 - 2)),
        (np.array([-(2**63)], np.int64), np.array([2**63 - 1], np.int64)),  # overflows int64
    ],
)
def test_diff_compares_64_bit_integers_exactly(cli, tmp_path, a, b):
    import ckpt

    left = ckpt.write_tensors(str(tmp_path / "a"), {"step": a})
    right = ckpt.write_tensors(str(tmp_path / "b"), {"step": b})
    result = cli("diff", left, right)
    assert result.code == 1, result.out
    assert "1 changed" in result.out
    assert cli("diff", left, left).code == 0


def test_ls_escapes_control_characters_in_names(cli, tmp_path):
    import ckpt

    tensors = {"a\tb\nc": np.zeros(1), "ok name": np.ones(1)}
    prefix = ckpt.write_tensors(str(tmp_path / "c"), tensors)
    lines = cli("ls", prefix).out.splitlines()
    assert any(line.endswith("a\\tb\\nc") for line in lines)
    assert any(line.endswith("ok name") for line in lines)
    assert len(lines) == 4  # header, two tensors, summary: no line broken by a newline


def test_verify_json_reports_an_unreadable_index_as_json(cli, tmp_path):
    import json

    import ckpt

    prefix = ckpt.write_tensors(str(tmp_path / "c"), {"a": np.zeros(3)})
    (tmp_path / "c.index").write_bytes(b"garbage" * 10)
    result = cli("verify", "--json", prefix)
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False and report["errors"][0]["error"] == "CorruptCheckpointError"
    plain = cli("verify", prefix)
    assert plain.code == 1 and plain.err.startswith("ckpt: error: ")
