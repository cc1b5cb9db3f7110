"""``ckpt ls --json`` on the TF-written fixtures agrees with what TensorFlow itself reports.

Without TensorFlow the module is skipped, unless ``CKPT_REQUIRE_TF`` is set: then it fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from tf_support import import_tensorflow

tf, _TF_MISSING = import_tensorflow()
if tf is None:
    pytest.skip(_TF_MISSING, allow_module_level=True)

pytestmark = pytest.mark.tf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tf"
PREFIXES = [
    FIXTURES / "tf2_object",
    FIXTURES / "tf1_saver",
    FIXTURES / "tf_multishard" / "merged",
    FIXTURES / "tf_dtypes" / "dtypes",
    FIXTURES / "tf2_shard_policy" / "policy",
    FIXTURES / "tf2_legacy_adam",
]


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: p.name)
def test_ls_json_matches_tensorflow(ckpt_command, prefix):
    result = ckpt_command("ls", "--json", prefix)
    assert result.code == 0, result.err
    listing = json.loads(result.out)
    ours = {t["name"]: (t["shape"], t["dtype"]) for t in listing["tensors"]}
    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    theirs = {
        name: (list(shape), dtypes[name].name)
        for name, shape in tf.train.list_variables(str(prefix))
    }
    assert ours == theirs
    assert listing["totals"]["tensors"] == len(theirs)
