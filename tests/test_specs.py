"""The shipped specs reproduce the reference figures of ../shared/reference.md, statically."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.network.model import Network

# spec: (total params, trainable, non-trainable, layers incl. input, output shape)
KERAS_FIGURES = {
    "specs/seed/resnet50.arch": (23_600_006, 23_546_886, 53_120, 177, (6,)),
    "specs/keras/resnet50.arch": (25_636_712, 25_583_592, 53_120, 177, (1000,)),
    "specs/keras/resnet101.arch": (44_707_176, None, None, 347, (1000,)),
    "specs/keras/resnet152.arch": (60_419_944, None, None, None, (1000,)),
    "specs/keras/resnet50v2.arch": (25_613_800, None, None, 192, (1000,)),
    "specs/keras/resnet101v2.arch": (44_675_560, None, None, None, (1000,)),
    "specs/keras/resnet152v2.arch": (60_380_648, None, None, 566, (1000,)),
}

# spec: (torchvision parameters = our trainable ones, torchvision GFLOPS)
TORCHVISION_FIGURES = {
    "specs/torchvision/resnet18.arch": (11_689_512, 1.81),
    "specs/torchvision/resnet34.arch": (21_797_672, 3.66),
    "specs/torchvision/resnet101.arch": (44_549_160, 7.80),
    "specs/torchvision/resnet152.arch": (60_192_808, 11.51),
}


@pytest.fixture(scope="module")
def networks() -> dict[str, Network]:
    return {path: resnet_dsl.load(path) for path in {*KERAS_FIGURES, *TORCHVISION_FIGURES}}


@pytest.mark.parametrize("path", sorted(KERAS_FIGURES))
def test_keras_counts(networks: dict[str, Network], path: str) -> None:
    total, trainable, non_trainable, layers, output = KERAS_FIGURES[path]
    network = networks[path]
    params = network.total_params
    assert params.total == total
    if trainable is not None:
        assert (params.trainable, params.non_trainable) == (trainable, non_trainable)
    if layers is not None:
        assert len(network.layers) == layers
    assert network.output_shape == output


@pytest.mark.parametrize("path", sorted(TORCHVISION_FIGURES))
def test_torchvision_counts_and_macs(networks: dict[str, Network], path: str) -> None:
    parameters, gflops = TORCHVISION_FIGURES[path]
    network = networks[path]
    assert network.input_shape == (224, 224, 3)
    assert network.output_shape == (1000,)
    assert network.total_params.trainable == parameters
    assert network.macs / 1e9 == pytest.approx(gflops, rel=0.01)
    assert not any(layer.config.use_bias for layer in network.layers if layer.kind == "conv2d")


def test_seed_resnet50_follows_the_notebook(networks: dict[str, Network]) -> None:
    network = networks["specs/seed/resnet50.arch"]
    assert network.input_shape == (64, 64, 3)
    stem = [layer.kind for layer in network.section("stem")]
    assert stem == ["zeropad", "conv2d", "batchnorm", "activation", "maxpool"]
    assert [layer.kind for layer in network.section("head")] == ["avgpool", "flatten", "dense"]
    depths = [len(stage.blocks) for stage in network.stages]
    assert depths == [3, 4, 6, 3]
    for stage, stride in zip(network.stages, [1, 2, 2, 2], strict=True):
        first, *rest = stage.blocks
        assert first.block == "convolutional"
        assert dict(first.args)["s"] == stride
        assert {block.block for block in rest} == {"identity"}
    inits = {
        layer.origin.block_def: layer.config.kernel_initializer
        for layer in network.layers
        if layer.kind == "conv2d" and layer.origin.block_def
    }
    assert inits["identity"].name == "random_uniform" and inits["identity"].seed == 0
    assert inits["convolutional"].name == "glorot_uniform" and inits["convolutional"].seed == 0
    block_norms = [layer for layer in network.layers if layer.origin.block_def and layer.kind == "batchnorm"]
    assert block_norms and all(layer.config.training is True for layer in block_norms)


def test_keras_layer_names(networks: dict[str, Network]) -> None:
    names = [layer.name for layer in networks["specs/keras/resnet50.arch"].layers]
    assert names[:7] == ["input_layer", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool"]
    block = [n for n in names if n.startswith("conv2_block1_")]
    assert sorted(block) == sorted(
        ["conv2_block1_0_conv", "conv2_block1_0_bn"]
        + [f"conv2_block1_{i}_{k}" for i in (1, 2) for k in ("conv", "bn", "relu")]
        + ["conv2_block1_3_conv", "conv2_block1_3_bn", "conv2_block1_add", "conv2_block1_out"]
    )
    assert names[-2:] == ["avg_pool", "predictions"]
    assert "conv5_block3_out" in names


def test_depth_variants_only_change_depths(networks: dict[str, Network]) -> None:
    r50, r101 = networks["specs/keras/resnet50.arch"], networks["specs/keras/resnet101.arch"]
    assert [len(s.blocks) for s in r101.stages] == [3, 4, 23, 3]
    assert r101.name == "ResNet101"
    assert [b.name for b in r50.blocks] == [b.name for b in r101.blocks]
    assert r50.section("stem") == r101.section("stem")
