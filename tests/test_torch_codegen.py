"""`resnet-dsl generate --target torch` / `to_python(..., target="torch")`: text, safety, CLI,
then the modules it writes, run against `to_torch` and torchvision.

Golden files: tests/golden/torch_<spec>.py (`python tests/regen_golden.py` rewrites them).
The tests up to "Modules" need no torch.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.backends import torch_layout
from resnet_dsl.cli import main as cli_main
from resnet_dsl.codegen import to_python, torch_tree
from tests.conftest import REPO, ZOO_NETWORKS, split_network
from tests.regen_golden import golden_path
from tests.test_codegen import import_source, ruff, unified_diff

HOSTILE = r"""
# Names that are keywords, builtins, torch's own attributes or the generated code's locals.
block class(lambda, import = 2, self = 3, in_channels_ = 4, out = 5, torch = 6, nn = 7,
            shortcut = "a\"b'''\\n", act = relu, init = he_normal(seed=3), forward = 1) {
  pre { bn as "training" }
  main { conv(lambda, 1, stride=import, init=init) as "odd-name.1" -> bn as "forward" -> activation(act) }
  shortcut from pre { conv(lambda, 1, stride=import) }
  out = add(main, shortcut) -> activation(act)
}
block Module(float) {
  main { zeropad([[0, 1], [1, 0]]) -> conv(float, 2) -> bn -> relu as "eval" }
  out = add(main, input)
}
block pad(f, low, high = 1) {
  main { conv(f, 3, padding=same) }
  shortcut { zeropad(channels=[low, high]) }
  out = concat(main, shortcut) -> depthwise_conv(1, depth_multiplier=high) -> gn(high)
}
network nn(input = 8x8x3, classes = 2) {
  stem { class: conv(4, 3, padding=same) }
  stage s: class(4), class(4, act=gelu) * 2, Module(4), pad(2, 1), pad(2, 0, high=2)
  head { global_avgpool -> dense(classes) as "state_dict" }
}
"""


def generate(entry: str, **kwargs: Any) -> str:
    spec, network = split_network(entry)
    return to_python(spec, target="torch", **network, **kwargs)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """The whole zoo's generated torch modules (`specs/x.arch`, or `specs/x.arch:Network`)."""
    return {entry: generate(entry) for entry in ZOO_NETWORKS}


# ------------------------------------------------------------------ text --


@pytest.mark.parametrize("spec", ZOO_NETWORKS)
def test_golden_file(generated: dict[str, str], spec: str) -> None:
    path = golden_path(spec, "torch")
    assert path.is_file(), f"{path} is missing: run python tests/regen_golden.py"
    expected = path.read_text(encoding="utf-8")
    assert generated[spec] == expected, "run python tests/regen_golden.py if this is intended\n" + unified_diff(
        expected, generated[spec], str(path), spec
    )


def test_formatted_and_clean_under_ruff(generated: dict[str, str], tmp_path: Path) -> None:
    sources = {**generated, "hostile": to_python(resnet_dsl.loads(HOSTILE), target="torch")}
    for index, source in enumerate(sources.values()):
        (tmp_path / f"module{index}.py").write_text(source, encoding="utf-8")
    config = str(REPO / "pyproject.toml")
    for args in (
        ("format", "--check", "--diff", "--config", config),
        ("format", "--check", "--diff", "--isolated"),
        ("check", "--config", config, "--no-cache"),
    ):
        result = ruff(*args, str(tmp_path))
        assert result.returncode == 0, f"ruff {' '.join(args[:2])}:\n{result.stdout}{result.stderr}"


def test_reads_like_torchvision(generated: dict[str, str]) -> None:
    tree = ast.parse(generated["specs/torchvision/resnet18.arch"])
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"Basic", "ResNet18"} <= set(classes) and "BasicProjection" not in classes  # one class, as torchvision's
    assert all(ast.unparse(classes[name].bases[0]) == "nn.Module" for name in ("Basic", "ResNet18"))
    forward = next(f for f in classes["Basic"].body if isinstance(f, ast.FunctionDef) and f.name == "forward")
    assert "if self.downsample is not None:\n        identity = self.downsample(x)" in ast.unparse(forward)
    assert "out += identity" in ast.unparse(forward)
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert set(imports) <= {"import math", "import torch", "import torch.nn.functional as F", "from torch import nn"}
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions[-1] == "build_model"


def test_every_zoo_module_imports_torch_alone(generated: dict[str, str]) -> None:
    allowed = {"import math", "import torch", "import torch.nn.functional as F", "from torch import nn"}
    allowed.add("from collections import OrderedDict")  # torchvision's RegNet names its blocks so too
    for entry, source in generated.items():
        tree = ast.parse(source)
        imports = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
        assert imports <= allowed, (entry, imports - allowed)


def test_one_class_per_block_kind_as_torchvision_writes_it() -> None:
    """timm's seresnet50: one class for the block whether or not it projects, the projection
    None where it does not, SE as a small named class, integer paddings, in-place ReLU."""
    source = to_python("specs/timm/seresnet50.arch", target="torch")
    tree = ast.parse(source)
    classes = {node.name: ast.unparse(node) for node in tree.body if isinstance(node, ast.ClassDef)}
    assert set(classes) == {"SeBottleneckSe", "SeBottleneck", "SEResNet50"}
    block = classes["SeBottleneck"]
    assert "self.downsample = nn.Sequential(" in block and "if project else None" in block.replace("\n", " ")
    assert "if self.downsample is not None:\n            identity = self.downsample(x)" in block
    assert "self.se = SeBottleneckSe(filters, reduction)" in block
    assert "se = self.se(out)" in block and "out += identity" in block
    assert "nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)" in block
    assert "self.maxpool1 = nn.MaxPool2d(3, 2, padding=1)" in classes["SEResNet50"]
    assert "nn.ReLU(inplace=True)" in block
    for absent in ("ModuleDict", "ZeroPad2d", "Conv2dSame", "same_pads", "F.pad", "SeBottleneck2"):
        assert absent not in source, absent


def test_readme_example_is_the_spec_and_what_it_generates(generated: dict[str, str]) -> None:
    """README's "PyTorch" shows a block of a zoo spec and its generated class: both verbatim
    (the class's elided lines `...` aside, the rest in order)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    marker = "<!-- torch-example: "
    spec = readme[readme.index(marker) + len(marker) :].partition(" -->")[0]
    after = readme[readme.index(marker) :]
    arch = after.split("```\n", 2)[1]
    assert arch in (REPO / spec).read_text(encoding="utf-8")
    source = generated[spec].splitlines()
    section = after.split("\n### ", 1)[0]
    excerpts = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    assert len(excerpts) == 2  # the block's class, the network's init_weights
    for python in excerpts:
        position = 0
        for line in python.splitlines():
            if line.strip() == "...":
                continue
            assert line in source[position:], f"README's line is not in the generated {spec}: {line!r}"
            position = source.index(line, position) + 1


def test_deterministic_across_hash_seeds() -> None:
    outputs = []
    for seed in ("0", "12345"):
        result = subprocess.run(
            [sys.executable, "-m", "resnet_dsl", "generate", "specs/seed/resnet50.arch", "--target", "torch"],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]


def test_text_only_without_torch_or_tensorflow(generated: dict[str, str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "resnet_dsl",
            "generate",
            "specs/torchvision/resnet18.arch",
            "--target=torch",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == generated["specs/torchvision/resnet18.arch"]
    imported = {line.rsplit("|", 1)[-1].strip().partition(".")[0] for line in result.stderr.splitlines()}
    assert "jinja2" in imported
    assert not imported & {"torch", "tensorflow", "keras"}


def test_cli_writes_and_checks(tmp_path: Path, generated: dict[str, str]) -> None:
    out = tmp_path / "model.py"
    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "--target", "torch", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == generated["specs/torchvision/resnet18.arch"]
    assert (
        cli_main(["generate", "specs/torchvision/resnet18.arch", "--target", "torch", "--check", "-o", str(out)]) == 0
    )
    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "--check", "-o", str(out)]) == 1, (
        "keras is the default"
    )
    assert (
        cli_main(["generate", "specs/torchvision/resnet18.arch", "--target", "keras", "--check", "-o", str(out)]) == 1
    )


def test_hostile_names_stay_plain_python() -> None:
    source = to_python(resnet_dsl.loads(HOSTILE), target="torch")
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert {"Class", "Module", "Nn", "build_model"} <= names
    block = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Class")
    init = next(n for n in block.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    assert [a.arg for a in init.args.args][:4] == ["self", "in_channels", "lambda_", "import_"]
    network = resnet_dsl.loads(HOSTILE)
    shortcut = dict(network.stages[0].blocks[0].args)["shortcut"]
    defaults = {a.arg: d for a, d in zip(init.args.args[-len(init.args.defaults) :], init.args.defaults, strict=True)}
    assert ast.literal_eval(defaults["shortcut_"]) == shortcut


# --------------------------------------------------------------- Modules --

torch_only = pytest.mark.torch


def built(source: str, **kwargs: Any) -> Any:
    return import_source(source).build_model(**kwargs)


@torch_only
@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            s, marks=[] if s in {"specs/seed/resnet50.arch", "specs/torchvision/resnet18.arch"} else [pytest.mark.slow]
        )
        for s in ZOO_NETWORKS
    ],
)
def test_generated_module_is_to_torch_layer_for_layer(generated: dict[str, str], spec: str) -> None:
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    path, network = split_network(spec)
    reference = to_torch(path, **network).eval()
    module = built(generated[spec]).eval()
    ours, theirs = module.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[key].shape == theirs[key].shape for key in theirs)
    if torch_tree.direct(torch_layout.layout(resnet_dsl.load(path, **network))) is None:
        assert [name for name, _ in module.named_modules()] == [name for name, _ in reference.named_modules()]
    else:  # the zoo's own tree, where to_torch moves its modules there (`rehome`): the same modules with state
        assert stateful(module) == stateful(reference)
    with torch.no_grad():
        for key, value in theirs.items():  # move every weight, so no layer is an identity by accident
            if value.is_floating_point():
                value.copy_(value + 0.01 * torch.randn(value.shape, generator=torch.Generator().manual_seed(len(key))))
                if key.endswith("running_var"):
                    value.abs_()
    module.load_state_dict(theirs, strict=True)
    if network.get("network") == "ResNet1202":
        # 600 residual adds of unit-scale BNs overflow float32 with any such weights (the variance
        # doubles per block); ResNet20 ... 110 compare the same block's outputs.
        return
    size = min(resnet_dsl.load(path, **network).input_shape[0], 64)
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-6)


def stateful(module: Any) -> list[str]:
    """The names of the modules that hold parameters or buffers of their own."""
    return [
        name
        for name, child in module.named_modules()
        if [*child.parameters(recurse=False), *child.buffers(recurse=False)]
    ]


@torch_only
def test_to_torch_prints_like_torchvision() -> None:
    from resnet_dsl.backends.torch import to_torch

    printed = str(to_torch("specs/timm/seresnet50.arch"))
    assert printed.startswith("SEResNet50(\n")
    assert "(0): SeBottleneck(" in printed and "Graph" not in printed
    assert "(maxpool1): MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)" in printed
    assert "(act1): ReLU(inplace=True)" in printed and "ZeroPad2d" not in printed
    assert "momentum=0.1," in printed and "0.0999" not in printed


@torch_only
def test_seresnet50_trains_with_its_in_place_operations(generated: dict[str, str]) -> None:
    """In-place ReLU and `out += identity` leave autograd what it needs: a training step's
    gradients are those of `to_torch` (the same weights), for the generated module too."""
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    spec = "specs/timm/seresnet50.arch"
    reference = to_torch(spec, overrides={"input": "32x32x3", "classes": 4})
    module = built(to_python(spec, target="torch", overrides={"input": "32x32x3", "classes": 4}), classes=4)
    module.load_state_dict(reference.state_dict(), strict=True)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for model in (reference, module):
        model.train()
        model(images).square().sum().backward()
    grads = dict(reference.named_parameters())
    for name, parameter in module.named_parameters():
        torch.testing.assert_close(parameter.grad, grads[name].grad, rtol=1e-4, atol=1e-5)


@torch_only
def test_generated_resnet18_loads_torchvision_weights(generated: dict[str, str]) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.resnet18().eval()
    module = built(generated["specs/torchvision/resnet18.arch"]).eval()
    module.load_state_dict(reference.state_dict(), strict=True)
    images = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (module(images) - reference(images)).abs().max().item() < 1e-4
    assert built(generated["specs/torchvision/resnet18.arch"], classes=10).fc.out_features == 10


@torch_only
def test_hostile_module_builds_as_to_torch() -> None:
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(HOSTILE)
    module = built(to_python(network, target="torch")).eval()
    reference = to_torch(network).eval()
    assert list(module.state_dict()) == list(reference.state_dict())
    module.load_state_dict(reference.state_dict())
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-6)


FOLDS = """
block fold(p) {
  main { zeropad(p) -> conv(4, 3) }
  out = add(main, shortcut)
}
network Folds(input = 8x8x4) {
  stage s: fold(1), fold([[0, 2], [2, 0]]), fold(1)
}
"""


@torch_only
def test_instances_laid_out_differently_get_a_class_each() -> None:
    """A padding that folds into the convolution in one instance and not in another."""
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(FOLDS)
    source = to_python(network, target="torch")
    assert "class Fold(nn.Module)" in source and "class FoldPad1(nn.Module)" in source
    assert "Fold(4, 1),\n            FoldPad1(4, ((0, 2), (2, 0))),\n            Fold(4, 1)," in source
    module, reference = built(source).eval(), to_torch(network).eval()
    module.load_state_dict(reference.state_dict(), strict=True)
    images = torch.rand(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-6)


PREACT = """
import "specs/timm/resnetv2_50.arch"

network Preact(input = 16x16x8) {
  stage s: preact_bottleneck(4, stride=2), preact_bottleneck(4)
}
"""


@torch_only
def test_a_left_out_path_whose_source_is_chosen_per_call_reads_the_block_input() -> None:
    """timm's pre-activation block: `shortcut from (pre if project else input) if project`. One
    class for both kinds of instance added the pre-activation where the raw input belongs."""
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(PREACT)
    module, reference = built(to_python(network, target="torch")).eval(), to_torch(network).eval()
    with torch.no_grad():
        for value in reference.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(value.numel()))
    module.load_state_dict(reference.state_dict(), strict=True)
    images = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-5)


def test_variant_classes_are_named_after_what_tells_them_apart(generated: dict[str, str]) -> None:
    """A block whose instances need several classes: the one with the fewest modules keeps the
    block's name, the others are named after the paths (then the kinds of module) only they
    have, never numbered by first use (`BottleneckD2`, `BottleneckV22`)."""

    def classes(spec: str) -> list[str]:
        from resnet_dsl.codegen.torch_helpers import HELPERS

        tree = ast.parse(generated[spec])
        return [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name not in HELPERS]

    assert classes("specs/timm/resnet50d.arch") == ["BottleneckD", "ResNet50D"]  # the pool: nn.Identity at stride 1
    assert classes("specs/keras/resnet50v2.arch") == ["BottleneckV2", "BottleneckV2Shortcut", "ResNet50V2"]
    assert classes("specs/timm/resnetv2_50.arch") == ["PreactBottleneckDownsample", "PreactBottleneck", "ResNetV2_50"]
    source = generated["specs/timm/resnet50d.arch"]
    assert "BottleneckD(64, 64)" in source and "*(BottleneckD(256, 64) for _ in range(2))" in source
    assert "AvgPool2dSame(2, stride) if stride != 1 else nn.Identity()," in source
