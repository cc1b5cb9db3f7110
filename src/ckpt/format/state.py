"""The ``checkpoint`` state file: a text-format ``CheckpointState`` proto (format doc §1.2, §3.9).

It names the latest checkpoint and the ones still kept, oldest first, with optional save
timestamps. TF writes it with protobuf's text format, which this module also uses, so the bytes
match TF's for the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import text_format

from ckpt.format import protos


@dataclass
class CheckpointState:
    """The fields of TF's ``CheckpointState`` proto, as plain Python values."""

    model_checkpoint_path: str
    all_model_checkpoint_paths: list[str] = field(default_factory=list)
    all_model_checkpoint_timestamps: list[float] = field(default_factory=list)
    last_preserved_timestamp: float = 0.0


def serialize(state: CheckpointState) -> str:
    proto = protos.CheckpointState(
        model_checkpoint_path=state.model_checkpoint_path,
        all_model_checkpoint_paths=state.all_model_checkpoint_paths,
        all_model_checkpoint_timestamps=state.all_model_checkpoint_timestamps,
        last_preserved_timestamp=state.last_preserved_timestamp,
    )
    return str(text_format.MessageToString(proto))


def parse(text: str) -> CheckpointState:
    """Parse the file's text; raises ``text_format.ParseError`` on malformed input."""
    proto = protos.CheckpointState()
    text_format.Parse(text, proto)
    return CheckpointState(
        model_checkpoint_path=proto.model_checkpoint_path,
        all_model_checkpoint_paths=list(proto.all_model_checkpoint_paths),
        all_model_checkpoint_timestamps=list(proto.all_model_checkpoint_timestamps),
        last_preserved_timestamp=proto.last_preserved_timestamp,
    )
