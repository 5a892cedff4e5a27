"""The per-stage summary, receptive fields and activation memory, held against hand
computation and the reference figures (/work/shared/reference.md: 483 px and 427 px)."""

from __future__ import annotations

from math import prod

import pytest

import resnet_dsl
from resnet_dsl.analysis.memory import memory, size_text
from resnet_dsl.analysis.receptive import fields, last_feature_map
from resnet_dsl.analysis.summary import render_stages, sections, summary

TINY = """
block wide(filters) {
  main {
    conv(filters, 3, padding=same, dilation=2) -> relu
  }
  shortcut {
    conv(filters, 1)
  }
  out = add(main, shortcut)
}

network Tiny(input = 8x8x2, classes = 3) {
  stem {
    conv(4, 3, stride=2, padding=same) -> relu
  }
  stage s1: wide(4)
  stage s2: wide(4) * 2
  head {
    maxpool([2, 1]) -> global_avgpool -> dense(classes)
  }
}
"""


@pytest.fixture(scope="module")
def tiny() -> resnet_dsl.Network:
    return resnet_dsl.loads(TINY)


def test_receptive_field_by_hand(tiny) -> None:
    found = fields(tiny)
    sizes = {name: (field.sizes, field.jumps) for name, field in found.items() if field is not None}
    # stem conv 3x3 / 2: 1 + 2 = 3 px, jump 2
    assert sizes["conv"] == ((3, 3), (2, 2))
    # s1's main path: a dilated 3x3 (span 5) on jump 2 adds 4 x 2; the 1x1 shortcut adds nothing;
    # the add takes the larger of the two
    assert sizes["s1_block1_1_conv"] == ((11, 11), (2, 2))
    assert sizes["s1_block1_0_conv"] == ((3, 3), (2, 2))
    assert sizes["s1_block1_out"] == ((11, 11), (2, 2))
    assert sizes["s2_block2_out"] == ((27, 27), (2, 2))
    # a 2x1 pool (stride 2x1) grows the rows only
    assert sizes["pool"] == ((29, 27), (4, 2))
    assert found["avg_pool"] is None and found["dense"] is None
    name, field = last_feature_map(tiny)
    assert (name, field.text()) == ("pool", "29x27 px, jump 4x2")


def test_sections_by_hand(tiny) -> None:
    rows = {s.name: s for s in sections(tiny)}
    assert list(rows) == ["input", "stem", "s1", "s2", "head"]
    assert (rows["s1"].blocks, rows["s2"].blocks, rows["stem"].blocks) == (1, 2, None)
    assert rows["stem"].params == 3 * 3 * 2 * 4 + 4
    assert rows["s1"].params == (3 * 3 * 4 * 4 + 4) + (4 * 4 + 4)
    assert rows["s2"].params == 2 * rows["s1"].params
    assert rows["head"].params == 4 * 3 + 3
    assert rows["s2"].field.sizes == (27, 27) and rows["head"].field.sizes == (29, 27)
    assert rows["head"].output_shape == (3,)
    # MACs: output positions x (kernel x input channels) per filter; pooling, relu and add take none
    assert rows["stem"].macs == 4 * 4 * 4 * (3 * 3 * 2)
    assert rows["s1"].macs == 4 * 4 * 4 * (3 * 3 * 4 + 4)
    assert rows["s2"].macs == 2 * rows["s1"].macs
    assert rows["head"].macs == 4 * 3
    assert rows["input"].params == rows["input"].macs == 0


def test_activation_memory_by_hand(tiny) -> None:
    # input 8x8x2; stem conv, relu 4x4x4; each block: two convs, relu, add at 4x4x4;
    # head: max pool 2x4x4, global pool 4, dense 3
    floats = 8 * 8 * 2 + 2 * 64 + 3 * 4 * 64 + 2 * 4 * 4 + 4 + 3
    assert floats == sum(prod(layer.output_shape) for layer in tiny.layers)
    params = 76 + 3 * 168 + 15
    used = memory(tiny, batch=5)
    assert used.activations == 4 * floats
    assert used.params == used.gradients == 4 * params  # every parameter is trainable here
    assert used.training == 5 * 4 * floats + 2 * 4 * params
    rows = {s.name: s for s in sections(tiny)}
    assert rows["input"].activations == 4 * 128 and rows["s2"].activations == 4 * 2 * 4 * 64


def test_batchnorm_statistics_have_no_gradient() -> None:
    network = resnet_dsl.load("specs/keras/resnet50.arch")
    used = memory(network, batch=1)
    assert used.params == 4 * 25_636_712 and used.gradients == 4 * 25_583_592


@pytest.mark.parametrize(
    ("path", "overrides", "trainable", "last_stage"),
    [
        # keras.applications ResNet50: the stride on the first 1x1 ("v1")
        ("specs/keras/resnet50.arch", None, 25_583_592, 483),
        # the seed notebook's ResNet-50, also v1
        ("specs/seed/resnet50.arch", None, 23_546_886, 483),
        # torchvision resnet50 ("v1.5", the stride on the 3x3): resnet101 with ResNet-50's depths
        ("specs/torchvision/resnet101.arch", {"depths": [3, 4, 6, 3]}, 25_557_032, 427),
    ],
)
def test_resnet50_receptive_fields(path: str, overrides, trainable: int, last_stage: int) -> None:
    network = resnet_dsl.load(path, overrides=overrides)
    assert network.total_params.trainable == trainable  # it is the network the reference names
    conv5 = next(s for s in sections(network) if s.name == "conv5")
    assert conv5.field.sizes == (last_stage, last_stage)
    assert conv5.field.jumps == (32, 32)


def test_network_receptive_field_is_the_last_feature_map() -> None:
    keras50 = resnet_dsl.load("specs/keras/resnet50.arch")
    assert last_feature_map(keras50)[0] == "conv5_block3_out"  # global pooling follows
    assert summary(keras50)["receptive_field"] == {"size": [483, 483], "jump": [32, 32]}
    # the seed's head pools 2x2 before flattening: 483 + (2 - 1) x 32, jump 64
    seed = resnet_dsl.load("specs/seed/resnet50.arch")
    assert last_feature_map(seed) == ("avg_pool", last_feature_map(seed)[1])
    assert summary(seed)["receptive_field"] == {"size": [515, 515], "jump": [64, 64]}


def test_summary_json_stages(tiny) -> None:
    data = summary(tiny, batch=2)
    assert [row["name"] for row in data["stages"]] == ["input", "stem", "s1", "s2", "head"]
    s2 = data["stages"][3]
    assert s2 == {
        "name": "s2",
        "section": "stage",
        "blocks": 2,
        "layers": 8,
        "output_shape": [None, 4, 4, 4],
        "params": 2 * 168,
        "macs": s2["macs"],
        "receptive_field": {"size": [27, 27], "jump": [2, 2]},
        "activation_bytes": 4 * 2 * 4 * 64,
    }
    assert s2["macs"] == 2 * 4 * 4 * (3 * 3 * 4 * 4 + 4 * 4)
    assert data["memory"]["batch"] == 2
    floats, params = 8 * 8 * 2 + 2 * 64 + 3 * 4 * 64 + 2 * 4 * 4 + 4 + 3, 76 + 3 * 168 + 15  # as counted above
    assert data["memory"]["training_step"] == 2 * 4 * floats + 2 * 4 * params


def test_rendered_stage_table(tiny) -> None:
    text = render_stages(tiny, batch=5)
    lines = text.splitlines()
    s1 = next(line for line in lines if line.startswith("s1 "))  # activations: 4 layers x 64 floats
    assert s1.split() == ["s1", "1", "4x4x4", "168", "2.6", "K", "11", "px,", "jump", "2", "1.0", "KiB"]
    assert "Receptive field: 29x27 px, jump 4x2 (pool)" in lines
    # 5 x 4 x 1,063 floats + 2 x 4 x 595 parameters = 26,020 bytes
    assert "training step at batch 5: 25.4 KiB" in text
    assert max(len(line) for line in lines) <= 80


def test_sections_are_torchvisions_own_counts() -> None:
    """Per section, torchvision's resnet50 (its constructor, counted by torch) against our summary.

    Activations differ by what torch does inside a module or in place, which our Keras-style
    layers store: the stem's two zero paddings, each stage's first 3x3 padding, each block's add."""
    reference = pytest.importorskip("tests.torch_reference")
    torch_rows = reference.sections("torchvision", "resnet50", 64)
    rows = {
        s.name: s for s in sections(resnet_dsl.load("specs/torchvision/resnet50.arch", overrides={"input": "64x64x3"}))
    }
    assert list(torch_rows) == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    not_in_torch = {
        "stem": 70 * 70 * 3 + 34 * 34 * 64,
        "conv2": 3 * 16 * 16 * 256 + 18 * 18 * 64,
        "conv3": 4 * 8 * 8 * 512 + 18 * 18 * 128,
        "conv4": 6 * 4 * 4 * 1024 + 10 * 10 * 256,
        "conv5": 3 * 2 * 2 * 2048 + 6 * 6 * 512,
        "head": 0,
    }
    for name, theirs in torch_rows.items():
        ours = rows[name]
        assert (ours.params, ours.macs) == (theirs.params, theirs.macs), name
        assert ours.activations == 4 * (theirs.activations + not_in_torch[name]), name


def test_size_text() -> None:
    assert [size_text(n) for n in (0, 1023, 1024, 1536, 5 * 2**20, 3 * 2**30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]


GATED = """
block gated(filters) {
  main {
    conv(filters, 3, padding=same) -> relu
  }
  shortcut {
    global_avgpool -> dense(filters) -> sigmoid
  }
  out = multiply(main, shortcut)
}

network Gated(input = 16x16x3, classes = 2) {
  stem {
    conv(4, 3, stride=2)
  }
  stage s1: gated(4) * 2
  head {
    global_avgpool -> dense(classes)
  }
}
"""


def test_a_global_gate_keeps_the_local_receptive_field() -> None:
    network = resnet_dsl.loads(GATED)
    found = fields(network)
    assert found["s1_block1_0_sigmoid"] is None  # the squeeze path sees the whole input
    # stem 3 px, jump 2; each block's 3x3 adds 2 x 2; the gate leaves that as it is
    assert found["s1_block1_out"].sizes == (7, 7)
    assert found["s1_block2_out"].sizes == (11, 11)
    assert last_feature_map(network) == ("s1_block2_out", found["s1_block2_out"])


def test_subsampling_upsampling_and_depthwise_by_hand() -> None:
    network = resnet_dsl.loads(
        """
network Scales(input = 32x32x3, classes = 2) {
  stem {
    a: conv(4, 3, padding=same) -> subsample(2) -> depthwise_conv(3, padding=same) -> upsample(2)
    b: conv(4, 3, padding=same)
  }
  head {
    global_avgpool -> dense(classes)
  }
}
"""
    )
    found = {name: (f.sizes, f.jumps) for name, f in fields(network).items() if f is not None}
    sizes = list(found.values())
    # conv 3 (jump 1); subsample: jump 2; depthwise 3x3 adds 2 x 2 = 7; upsample: jump 1; conv adds 2 x 1 = 9
    assert sizes[1:] == [((3, 3), (1, 1)), ((3, 3), (2, 2)), ((7, 7), (2, 2)), ((7, 7), (1, 1)), ((9, 9), (1, 1))]
