"""``ckpt convert`` end to end: TF -> safetensors -> TF through the installed command."""

from __future__ import annotations

import numpy as np

import ckpt


def test_tf_safetensors_tf_round_trip(ckpt_command, fixtures, tmp_path):
    source = fixtures / "tf1_saver"
    middle = tmp_path / "model.safetensors"
    back = tmp_path / "back"
    first = ckpt_command("convert", source, middle)
    assert first.code == 0, first.err
    assert first.out.strip() == str(middle)
    second = ckpt_command("convert", middle, back, "--to", "tf")
    assert second.code == 0, second.err
    with ckpt.load_checkpoint(source) as original, ckpt.load_checkpoint(back) as copy:
        assert sorted(original.keys()) == sorted(copy.keys())
        for key in original:
            expected, got = original.get_tensor(key), copy.get_tensor(key)
            assert got.dtype == expected.dtype, key
            np.testing.assert_array_equal(got, expected, err_msg=key)
    assert ckpt_command("diff", back, source).code == 0


def test_map_and_dtype(ckpt_command, fixtures, tmp_path):
    out = tmp_path / "renamed"
    result = ckpt_command(
        "convert", fixtures / "tf1_saver", out, "--to", "tf", "--map", "scope/=layer/",
        "--dtype", "float16",
    )
    assert result.code == 0, result.err
    with ckpt.load_checkpoint(fixtures / "tf1_saver") as original, ckpt.load_checkpoint(
        out
    ) as renamed:
        assert "layer/w" in renamed and "scope/w" not in renamed
        assert renamed.get_tensor("layer/w").dtype == np.float16
        with np.errstate(over="ignore"):  # the cast saturates large values to inf, as ckpt's
            expected = original.get_tensor("scope/w").astype(np.float16)
        np.testing.assert_array_equal(renamed.get_tensor("layer/w"), expected)


def test_strings_to_safetensors_fail_cleanly(ckpt_command, fixtures, tmp_path):
    result = ckpt_command("convert", fixtures / "tf2_object", tmp_path / "x.safetensors")
    assert result.code == 1
    assert result.err.startswith("ckpt: error:") and "Traceback" not in result.err
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_bad_map_is_a_usage_error(cli, fixtures, tmp_path):
    result = cli("convert", fixtures / "tf1_saver", tmp_path / "x", "--map", "nonsense")
    assert result.code == 2
    assert "OLD=NEW" in result.err
