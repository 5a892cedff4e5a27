"""Code generation (`to_python`, `resnet-dsl generate`): text, safety, CLI, then the Keras models.

Golden files: tests/golden/<spec>.py is the generated source of each shipped spec
(`specs/keras/resnet50.arch` -> `keras_resnet50.py`), compared byte for byte. After a
deliberate change to the generated code, regenerate them and review the diff:

    .venv/bin/python tests/regen_golden.py

The tests up to "Keras" need no TensorFlow; the rest build models (marked `keras`).
"""

from __future__ import annotations

import ast
import difflib
import json
import keyword
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import resnet_dsl
from resnet_dsl.cli import main as cli_main
from resnet_dsl.codegen import keras as codegen
from resnet_dsl.codegen import keras_views, pysource, to_python, views
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.ir import LayerCall
from resnet_dsl.network import functions as functions_module
from resnet_dsl.network import ops, option_values
from resnet_dsl.network.api import loads
from resnet_dsl.network.expand import layer_config
from resnet_dsl.network.loader import parse_module
from tests.conftest import REPO, SHIPPED_SPECS, ZOO_NETWORKS
from tests.families import swept
from tests.regen_golden import GOLDEN, golden_path

SMALL = {"input": "32x32x3", "classes": 3}

HOSTILE = r"""
# Parameter names that are keywords, builtins or the generated code's own locals, strings
# full of quotes and escapes, a huge float, an activation passed as a parameter.
block class(lambda, import = 2, x = 3, keras = 4, layers = 5, name = 6, __import__ = 7,
            print = [1, 2], shortcut = "a\"b'''\"\"\"\\n", True = 1e300, act = relu,
            init = he_normal(seed=3), l = 1, inputs = "é\n") {
  pre { bn }
  main { conv(lambda, 1, stride=import, init=init) as "odd-name.1" -> bn -> activation(act) }
  shortcut from pre { conv(lambda, 1, stride=import) }
  out = add(main, shortcut) -> activation(act)
}
block range(float, keras_, keras = 1) {
  main { conv(float, 1) -> bn -> relu }
  out = add(main, input)
}
network Hostile(input = 8x8x3, classes = 2) {
  stage s: class(4), class(4, act=gelu) * 2, range(4, 0)
  head { global_avgpool -> dense(classes) }
}
"""

UNSEEDED = """
block twin(f, init = he_normal()) {
  main {
    conv(f, 1, init=init)
    conv(f, 1, init=init)
  }
  out = add(main, shortcut)
}
network Twins(input = 4x4x8) {
  stage s: twin(8)
}
"""


# ---------------------------------------------------------------- helpers --


def unified_diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True), expected_name, actual_name
    )
    return "".join(lines)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """`to_python` of every shipped spec, generated once."""
    return {spec: to_python(spec) for spec in SHIPPED_SPECS}


SPEC_FUNCTIONS = {name for name in functions_module.FUNCTIONS if name not in functions_module.PYTHON}
"""The spec language's functions generated code calls by their Python names: int, max, round..."""


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the module itself defines: functions, parameters, assignment and loop targets."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
            args = node.args
            names.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
    return names


def layer_class(call: ast.Call) -> bool:
    text = ast.unparse(call.func)
    return text.startswith("layers.") and text.removeprefix("layers.") in keras_views.KERAS_CLASSES.values()


def allowed_call(call: ast.Call, functions: set[str]) -> bool:
    """A Keras layer (made, or applied), Input, Model or initializer; a block function; range; float."""
    func = call.func
    if isinstance(func, ast.Call):  # layers.Conv2D(...)(x)
        return layer_class(func)
    text = ast.unparse(func)
    if layer_class(call) or text in {"keras.Input", "keras.Model", "keras.initializers.get", "range", "float"}:
        return True
    if text.startswith("keras.initializers.") and text.count(".") == 2:
        return text.rpartition(".")[2] in pysource.INITIALIZER_CLASSES.values()
    if isinstance(func, ast.Attribute) and func.attr == "clone" and isinstance(func.value, ast.Call):
        return ast.unparse(func.value.func) == "keras.initializers.get"
    if text in functions_module.PYTHON.values():  # math.ceil, math.floor
        return True
    return isinstance(func, ast.Name) and (func.id in functions or func.id in SPEC_FUNCTIONS)


def assert_plain_keras_module(source: str) -> ast.Module:
    """Imports only Keras, calls only what builds a model, names only what it defines."""
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [line for line in imports if line != "import math"] == ["import keras", "from keras import layers"]
    assert all(
        isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))
        or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        for n in tree.body
    ), "only a docstring, imports and functions at module level"
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    copied = {name for name in functions if name in codegen.layer_helpers()}  # to_keras's own, run by it
    own = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in copied)]
    calls = [c for n in own for c in ast.walk(n) if isinstance(c, ast.Call)]
    bad_calls = [ast.unparse(c) for c in calls if not allowed_call(c, functions)]
    assert not bad_calls
    loaded = {n.id for o in own for n in ast.walk(o) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert loaded - bound_names(tree) <= {"range", "float", "None", "True", "False", *SPEC_FUNCTIONS}
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("__")]
    return tree


def ruff(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------ golden files --


@pytest.mark.parametrize("spec", SHIPPED_SPECS)
def test_golden_file(generated: dict[str, str], spec: str) -> None:
    path = golden_path(spec)
    assert path.is_file(), f"{path} is missing: run python tests/regen_golden.py"
    expected = path.read_bytes().decode("utf-8")
    actual = generated[spec]
    assert actual == expected, "run python tests/regen_golden.py if this is intended\n" + unified_diff(
        expected, actual, str(path), f"to_python({spec!r})"
    )


def test_every_golden_module_is_a_shipped_spec() -> None:
    expected = [golden_path(spec) for spec in SHIPPED_SPECS] + [golden_path(n, "torch") for n in ZOO_NETWORKS]
    assert sorted(GOLDEN.glob("*.py")) == sorted(expected)


# ------------------------------------------------------- what it looks like --


def test_header_names_spec_version_and_says_do_not_edit(generated: dict[str, str]) -> None:
    for spec, source in generated.items():
        assert source.splitlines()[0] == (
            f"# Generated by resnet-dsl {resnet_dsl.__version__} from {spec}, do not edit."
        )


def test_formatted_and_clean_under_ruff(generated: dict[str, str], tmp_path: Path) -> None:
    for spec, source in generated.items():
        (tmp_path / golden_path(spec).name).write_text(source, encoding="utf-8")
    config = str(REPO / "pyproject.toml")
    for args in (
        ("format", "--check", "--diff", "--config", config),  # the project's 120 columns
        ("format", "--check", "--diff", "--isolated"),  # ruff's default 88
        ("check", "--config", config, "--no-cache"),
    ):
        result = ruff(*args, str(tmp_path))
        assert result.returncode == 0, f"ruff {' '.join(args[:2])}:\n{result.stdout}{result.stderr}"


def test_imports_and_calls_only_keras(generated: dict[str, str]) -> None:
    for source in generated.values():
        assert_plain_keras_module(source)


def test_one_function_per_block_used_each_called_by_build_model(generated: dict[str, str]) -> None:
    for spec, source in generated.items():
        tree = ast.parse(source)
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        network = resnet_dsl.load(spec)
        copied = {*functions_module.SOURCES, *codegen.layer_helpers()}  # make_divisible, kernel_fan_bias
        helpers = [f.name for f in functions if f.name in copied]
        assert [f.name for f in functions] == [*helpers, *(block.name for block in network.blocks), "build_model"]
        build_model = functions[-1]
        called = {c.func.id for c in ast.walk(build_model) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        assert called - {"range"} - copied == {block.name for block in network.blocks}
        assert all(ast.get_docstring(f) for f in functions)


def test_reads_like_the_seed_notebook(generated: dict[str, str]) -> None:
    source = generated["specs/seed/resnet50.arch"]
    assert "def identity(x, f, filters, init=None, training=True, *, name):" in source
    assert "def build_model(input_shape=(64, 64, 3), classes=6):" in source
    # conv(filters[0], 1, stride=s, padding=valid, init=init), symbolically:
    assert '        filters[0],\n        1,\n        strides=s,\n        padding="valid",\n' in source
    assert 'x = layers.BatchNormalization(axis=3, name=f"{name}_1_bn")(x, training=training)' in source
    assert 'x = convolutional(x, 3, (64, 64, 256), s=1, name="conv2_block1")' in source
    assert (
        'for index in range(2, 7):\n        x = identity(x, 3, (256, 256, 1024), name=f"conv4_block{index}")' in source
    )


def test_network_defaults_are_baked_in_where_a_call_sets_nothing(generated: dict[str, str]) -> None:
    source = generated["specs/torchvision/resnet18.arch"]
    assert 'x = layers.BatchNormalization(epsilon=1e-05, momentum=0.9, name=f"{name}_1_bn")(x)' in source
    assert source.count("use_bias=False") == 7  # 3 convolutions in basic and in basic_projection, the stem's
    stem = source[source.index("layers.Conv2D(\n        64,\n        7,") :].split('name="conv1_conv"')[0]
    assert "strides=2,\n        use_bias=False,\n        kernel_initializer=keras.initializers.VarianceScaling(" in stem


def test_every_layer_name_of_the_network_is_in_the_source(generated: dict[str, str]) -> None:
    """Stem and head names are literals; block layer names are the prefix plus their relative name."""
    for spec, source in generated.items():
        network = resnet_dsl.load(spec)
        for layer in (*network.section("stem"), *network.section("head")):
            assert f'name="{layer.name}"' in source
        for stage in network.stages:
            for instance in stage.blocks:
                for name in instance.layers:
                    assert f'name=f"{{name}}{name.removeprefix(instance.name)}"' in source


# ------------------------------------------------------------- determinism --

GENERATE_ALL = (
    "import json, sys\n"
    "from resnet_dsl.codegen import to_python\n"
    "from tests.conftest import SHIPPED_SPECS\n"
    "json.dump({spec: to_python(spec) for spec in SHIPPED_SPECS}, sys.stdout)\n"
)


def test_byte_identical_twice_and_under_two_hash_seeds(generated: dict[str, str]) -> None:
    again = {spec: to_python(spec) for spec in SHIPPED_SPECS}
    for seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", GENERATE_ALL],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        for spec, source in json.loads(result.stdout).items():
            name = f"PYTHONHASHSEED={seed} {spec}"
            assert source == generated[spec], unified_diff(generated[spec], source, spec, name)
    for spec, source in again.items():
        assert source == generated[spec], unified_diff(generated[spec], source, spec, f"second run {spec}")


# ------------------------------------------------------------------ safety --


def test_hostile_names_become_safe_identifiers() -> None:
    source = to_python(loads(HOSTILE))
    compile(source, "hostile.py", "exec")
    tree = assert_plain_keras_module(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert list(functions) == ["class_", "range_", "build_model"]
    params = [a.arg for a in functions["class_"].args.args]
    assert params == [
        "x", "lambda_", "import_", "x_", "keras_", "layers_", "name_", "__import___", "print_",
        "shortcut_", "True_", "act", "init", "l_", "inputs_",
    ]  # fmt: skip
    assert [a.arg for a in functions["range_"].args.args] == ["x", "float_", "keras_", "keras__"]
    defaults = dict(zip(params[2:], functions["class_"].args.defaults, strict=True))
    assert ast.literal_eval(defaults["shortcut_"]) == 'a"b\'\'\'"""\\n'
    assert ast.literal_eval(defaults["inputs_"]) == "\u00e9\n"
    assert ast.literal_eval(defaults["True_"]) == 1e300
    assert source.isascii()
    # The activation passed as a parameter names its layer at run time.
    assert 'name=f"{name}_1_{act}"' in source


LOCAL_NAMES = """
block x(f, init = random_uniform(minval=-0.0500000001, maxval=0.0500000001, seed=123456789)) {
  main { conv(f, 3, padding=same, init=init) -> bn -> relu }
  out = add(main, shortcut)
}
block inputs(f) {
  main { conv(f, 1, init=truncated_normal(mean=0.0, stddev=0.0200000001, seed=7)) -> relu }
  out = add(main, shortcut)
}
block index(f) {
  main { conv(f, 1) }
  out = add(main, shortcut)
}
block input_shape(f) {
  main { conv(f, 1) }
  out = add(main, shortcut)
}
block classes(f) {
  main { conv(f, 1) }
  out = add(main, shortcut)
}
network Locals(input = 8x8x4, classes = 3) {
  stage s: x(4) * 3, inputs(4) * 2, index(4), input_shape(4) * 2, classes(4)
  head {
    global_avgpool -> dense(classes, init=random_uniform(minval=-0.0500000001, maxval=0.0500000001, seed=123456789))
  }
}
"""


def test_blocks_named_like_build_models_locals_get_other_names() -> None:
    source = to_python(loads(LOCAL_NAMES))
    tree = assert_plain_keras_module(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert list(functions) == ["x_", "inputs_", "index_", "input_shape_", "classes_", "build_model"]
    build_model = functions["build_model"]
    stored = {n.id for n in ast.walk(build_model) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    arguments = {a.arg for a in build_model.args.args}
    assert stored | arguments <= pysource.BUILD_MODEL_LOCALS, "build_model uses a name the module does not reserve"
    assert not set(functions) & pysource.BUILD_MODEL_LOCALS


def test_initializers_with_several_arguments_are_ruff_format_clean(tmp_path: Path) -> None:
    path = tmp_path / "locals.py"
    path.write_text(to_python(loads(LOCAL_NAMES)), encoding="utf-8")
    assert "kernel_initializer=keras.initializers.RandomUniform(\n" in path.read_text()
    assert "init = keras.initializers.RandomUniform(\n" in path.read_text()
    for args in (("--config", str(REPO / "pyproject.toml")), ("--isolated",)):
        result = ruff("format", "--check", "--diff", *args, str(path))
        assert result.returncode == 0, result.stdout + result.stderr
    result = ruff("check", "--config", str(REPO / "pyproject.toml"), "--no-cache", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.keras
def test_blocks_named_like_build_models_locals_build_the_model() -> None:
    from resnet_dsl.backends.keras import to_keras

    network = loads(LOCAL_NAMES)
    model = import_source(to_python(network)).build_model()
    assert_same_model(model, to_keras(network))
    assert len(model.layers) == len(network.layers)


NAMES = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
    st.sampled_from(
        [*keyword.kwlist, "print", "range", "float", "__import__", "eval", "exec", "open", "l", "O", "I",
         *pysource.BLOCK_LOCALS, *pysource.MODULE_NAMES, "build_model", "__name__", "__debug__"]
    ),
)  # fmt: skip


def spec_string(text: str) -> str:
    """`text` as a string literal of the language (escapes: \\" \\\\ \\n \\t)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    block=NAMES,
    params=st.lists(NAMES, min_size=3, max_size=3, unique=True),
    text=st.text(max_size=12),
    number=st.floats(min_value=0, allow_infinity=False, allow_nan=False) | st.integers(min_value=0),
    big=st.integers(min_value=300, max_value=400),
)
def test_any_names_strings_and_numbers_give_safe_python(
    block: str, params: list[str], text: str, number: float, big: int
) -> None:
    """Names, strings and numbers straight from a spec: valid Python doing only what the
    spec says, with the values it says, or an ArchError from validation."""
    filters, label, amount = params
    assume("huge" not in params)
    spec = (
        f"block {block}({filters}, {label} = {spec_string(text)}, {amount} = -{number!r}, "
        f"huge = 1e{big}) {{\n"
        f"  main {{ conv({filters}, 1) }}\n"
        f"  out = add(main, shortcut)\n"
        f"}}\n"
        f"network N(input = 4x4x2) {{\n  stage s: {block}(2)\n}}\n"
    )
    try:
        network = loads(spec)
    except ArchError:
        event("rejected by validation")
        return
    event("generated")
    source = to_python(network)
    tree = assert_plain_keras_module(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "build_model")
    idents = codegen.param_identifiers(network.blocks[0])
    assert [a.arg for a in function.args.args] == ["x", *idents.values()]
    defaults = dict(zip([a.arg for a in function.args.args][2:], function.args.defaults, strict=True))
    assert ast.literal_eval(defaults[idents[label]]) == text
    assert eval(compile(ast.Expression(defaults[idents[amount]]), "<default>", "eval"), {"float": float}) == -number
    assert ast.unparse(defaults[idents["huge"]]) == ("float('inf')" if big > 308 else repr(float(f"1e{big}")))


def test_spec_path_cannot_leave_the_header_comment() -> None:
    network = loads(UNSEEDED)
    plain = codegen.render(network, "specs/x.arch")
    hostile = codegen.render(network, 'specs/x\n"""\nimport os  # \r\u2028\u00e9\\.arch')
    compile(hostile, "hostile.py", "exec")
    assert_plain_keras_module(hostile)
    assert hostile.isascii()
    assert hostile.splitlines()[1:] == plain.splitlines()[1:]
    assert hostile.splitlines()[0].startswith("# Generated by resnet-dsl")


@pytest.mark.parametrize(
    "name",
    ['a"b', "a\\nb", "a b", "\u00e9", "a'); import os; ('", "{name}", "__import__('os')"],
)
def test_layer_names_outside_the_safe_alphabet_are_rejected(name: str) -> None:
    text = 'network N(input = 8x8x3) {\n  head { global_avgpool as "' + name.replace('"', '\\"') + '" }\n}\n'
    # a brace starts a field of a torch module path, which the stem and head cannot use
    with pytest.raises(ArchError, match="has a field, {name}, outside a block" if "{" in name else "not allowed"):
        loads(text)


def test_unknown_initializer_in_an_unused_default_is_an_arch_error() -> None:
    """A default the expander never evaluates is still rendered, so code generation checks it."""
    text = UNSEEDED.replace("block twin(f, init = he_normal())", "block twin(f, init = he_normal(), x = eval(1))")
    with pytest.raises(ArchError, match="unknown initializer 'eval'"):
        to_python(loads(text))


# ------------------------------------------------------------- the tables --

SAMPLE_CALLS = [
    "conv(8, 3)", "bn", "activation(relu)", "relu", "zeropad(1)", "maxpool(2)", "avgpool(2)",
    "global_avgpool", "global_maxpool", "flatten", "dense(4)", "dropout(0.5)", "add", "multiply", "concat",
    "zeropad(channels=[1, 2])", "subsample(2)", "upsample(2)", "depthwise_conv(3)", "separable_conv(8, 3)", "gn(3)",
    "ln", "reshape([192])", "global_avgpool(keepdims=true)", "conv1d(1, 3)", "drop_path(0.1)", "layer_scale(0.5)",
    "pad(1, mode=replicate)", "blur(3)", "split(2, 1)", "select", "rescale(0.5, 1)", "normalize(0.5, 2)",
    "bn(gamma_init=zeros, beta_init=constant(0.5))",
]  # fmt: skip


def sample(text: str) -> tuple[ops.Op, Any]:
    module = parse_module(f"network N(input = 8x8x3) {{ head {{ {text} }} }}")
    call: LayerCall = module.networks[0].head[0].layers[0]
    op, config, _ = layer_config(call, {}, {})
    return op, config


def test_every_op_option_has_a_keras_keyword_and_every_kind_a_class() -> None:
    covered: dict[str, set[str]] = {}  # op -> the options that some sample's config holds as a field
    for text in SAMPLE_CALLS:
        op, config = sample(text)
        assert config.kind in keras_views.KERAS_CLASSES
        fields = type(config).model_fields
        covered.setdefault(op.name, set()).update(
            option.name for option in op.options if views.keras_keyword(config.kind, option.name) in fields
        )
    for name, options in covered.items():
        assert options == {option.name for option in ops.OPS[name].options}, name
    assert set(covered) | option_values.ACTIVATIONS >= set(ops.OPS)
    assert set(pysource.INITIALIZER_CLASSES) == set(option_values.INITIALIZERS)


# --------------------------------------------------------------------- CLI --


def test_generate_prints_to_standard_output_without_tensorflow(generated: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "resnet_dsl", "generate", "specs/torchvision/resnet18.arch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == generated["specs/torchvision/resnet18.arch"]
    imported = {line.rsplit("|", 1)[-1].strip().partition(".")[0] for line in result.stderr.splitlines()}
    assert "jinja2" in imported  # the measurement itself works
    assert not imported & {"tensorflow", "keras"}


def test_generate_writes_the_file_and_check_compares_it(
    tmp_path: Path, generated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.py"
    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "--check", "-o", str(out)]) == 1
    assert str(out) in capsys.readouterr().err
    assert not out.exists(), "--check writes nothing"

    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"  # as fmt and graph say what they wrote
    assert out.read_bytes() == generated["specs/torchvision/resnet18.arch"].encode()
    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "--check", "-o", str(out)]) == 0

    assert cli_main(["generate", "specs/torchvision/resnet34.arch", "--check", "-o", str(out)]) == 1
    assert str(out) in capsys.readouterr().err
    assert out.read_bytes() == generated["specs/torchvision/resnet18.arch"].encode(), "--check changed the file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"], "no temporary files left"


def test_generate_failure_keeps_the_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("network Bad(input = 8x8x3) {\n  stem { conv(0, 3) }\n}\n", encoding="utf-8")
    out = tmp_path / "model.py"
    out.write_text("previous\n", encoding="utf-8")
    assert cli_main(["generate", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.arch:2:15: error: conv filters: must be positive, got 0" in err
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arch", "model.py"]
    assert cli_main(["generate", str(spec), "-o", str(tmp_path / "new.py")]) == 1
    assert not (tmp_path / "new.py").exists()


def test_generate_check_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["generate", "specs/torchvision/resnet18.arch", "--check"]) == 2
    assert "--check needs -o" in capsys.readouterr().err


def test_generate_applies_set_and_network(generated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_main(["generate", "specs/torchvision/resnet18.arch", "--set", "classes=10", "--network", "ResNet18"]) == 0
    )
    source = capsys.readouterr().out
    assert "def build_model(input_shape=(224, 224, 3), classes=10):" in source
    assert source == to_python("specs/torchvision/resnet18.arch", network="ResNet18", overrides={"classes": 10})


# ------------------------------------------------------------------- Keras --

LAYOUTS = """
# Every way a block's sections can meet: pre with the shortcut from it, pre with the
# shortcut from the input and the input merged too, pre merged by name with no shortcut
# section, an empty shortcut section; three-way adds and layers after the merge.
block from_pre(f) {
  pre { bn -> relu }
  main { conv(f, 3, padding=same) }
  shortcut from pre { conv(f, 1) }
  out = add(shortcut, main)
}
block three_way(f) {
  pre { bn }
  main { conv(f, 1) }
  shortcut { conv(f, 1) }
  out = add(main, shortcut, input) -> relu
}
block pre_merged(f) {
  pre { relu }
  main { conv(f, 1) -> bn }
  out = add(pre, main, shortcut) -> relu -> bn
}
block empty_shortcut(f) {
  main { conv(f, 1) }
  shortcut { }
  out = add(main, shortcut)
}
network Layouts(input = 8x8x4, classes = 3) {
  stem { conv(4, 3, padding=same) }
  stage s: from_pre(4), three_way(4), pre_merged(4), empty_shortcut(4) * 2
  head { global_avgpool -> dense(classes, activation=softmax) }
}
"""


def import_source(source: str, name: str = "generated") -> types.ModuleType:
    """Run generated source as a module, as `import` would."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def layer_settings(layer: Any) -> dict[str, Any]:
    config = layer.get_config()
    config.pop("name", None)
    return config


def same_class(mine: type, theirs: type) -> bool:
    """The same Keras class, or the generated module's copy of one of ours (`Pad2D`)."""
    if theirs.__module__ == "resnet_dsl.backends.keras_layers":
        return mine.__qualname__ == theirs.__qualname__ and mine.__module__ != theirs.__module__
    return mine is theirs


def assert_same_model(actual: Any, expected: Any) -> None:
    """Names, order, classes, configs (initializers and their seeds included), shapes, parameters."""
    assert actual.name == expected.name
    assert [layer.name for layer in actual.layers] == [layer.name for layer in expected.layers]
    for mine, theirs in zip(actual.layers, expected.layers, strict=True):
        assert same_class(type(mine), type(theirs)), mine.name
        assert layer_settings(mine) == layer_settings(theirs), mine.name
        assert tuple(mine.output.shape) == tuple(theirs.output.shape), mine.name
        assert mine.count_params() == theirs.count_params(), mine.name
        assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in theirs.weights], mine.name
    assert actual.count_params() == expected.count_params()


def assert_same_outputs(actual: Any, expected: Any, seed: int = 0) -> None:
    """Given `expected`'s weights, `actual` computes exactly what it computes (wiring included)."""
    import numpy as np

    actual.set_weights(expected.get_weights())
    images = np.random.default_rng(seed).random((2, *expected.input.shape[1:]), dtype=np.float32)
    np.testing.assert_array_equal(
        np.asarray(actual(images, training=False)), np.asarray(expected(images, training=False))
    )


@pytest.fixture(scope="module")
def keras_pair(generated: dict[str, str]) -> Iterator[Callable[..., tuple[Any, Any]]]:
    """(the generated module's `build_model(**kwargs)`, `to_keras(spec, overrides=...)`).

    Only the latest pair is kept, so ResNet-152 is not held twice; tests that share a pair
    sit next to each other.
    """
    keras = pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras

    cache: dict[str, tuple[Any, Any]] = {}

    def build(spec: str, overrides: dict[str, str] | None = None, **kwargs: Any) -> tuple[Any, Any]:
        key = json.dumps([spec, overrides, kwargs])
        if key not in cache:
            cache.clear()
            keras.backend.clear_session()
            module = import_source(generated[spec])
            cache[key] = (module.build_model(**kwargs), to_keras(spec, overrides=overrides))
        return cache[key]

    yield build
    cache.clear()


@pytest.mark.keras
def test_seeded_initializers_give_identical_weights_and_outputs(keras_pair: Callable[..., tuple[Any, Any]]) -> None:
    """The seed notebook's spec seeds every initializer: no weights need copying."""
    import numpy as np

    generated_model, reference = keras_pair("specs/seed/resnet50.arch")
    for mine, theirs in zip(generated_model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    # Called without `training`, as the notebook's model is: the blocks' BatchNorm layers
    # get training=True from the generated code's calls, and must match to_keras's.
    np.testing.assert_array_equal(np.asarray(generated_model(images)), np.asarray(reference(images)))


@pytest.mark.keras
@pytest.mark.parametrize("spec", [spec for spec in SHIPPED_SPECS if swept(spec)])  # a family's members: test_families
def test_builds_the_model_to_keras_builds(keras_pair: Callable[..., tuple[Any, Any]], spec: str) -> None:
    generated_model, reference = keras_pair(spec)
    assert_same_model(generated_model, reference)


@pytest.mark.keras
@pytest.mark.parametrize("spec", ["specs/torchvision/resnet18.arch", "specs/keras/resnet50.arch"])
def test_build_model_parameters_and_same_weights_same_outputs(
    keras_pair: Callable[..., tuple[Any, Any]], spec: str
) -> None:
    generated_model, reference = keras_pair(spec, SMALL, input_shape=(32, 32, 3), classes=3)
    assert_same_model(generated_model, reference)
    assert_same_outputs(generated_model, reference)


@pytest.mark.keras
def test_overrides_become_the_defaults_of_build_model() -> None:
    pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras

    source = to_python("specs/torchvision/resnet18.arch", overrides=SMALL)
    assert "def build_model(input_shape=(32, 32, 3), classes=3):" in source
    assert_same_model(import_source(source).build_model(), to_keras("specs/torchvision/resnet18.arch", overrides=SMALL))


NO_STEM = """
# The first stage's blocks repeat straight from the input: the loop must chain them.
block plain(f) {
  main { conv(f, 3, padding=same) -> relu }
  out = add(main, shortcut)
}

network N(input = 8x8x4, classes = 3) {
  stage s: plain(4) * 3
  head { global_avgpool -> dense(classes) }
}
"""


@pytest.mark.keras
@pytest.mark.parametrize("text", [LAYOUTS, HOSTILE, NO_STEM], ids=["layouts", "hostile", "no-stem"])
def test_block_layouts_and_hostile_names_compute_what_to_keras_computes(text: str) -> None:
    pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras

    network = loads(text)
    generated_model, reference = import_source(to_python(network)).build_model(), to_keras(network)
    assert_same_model(generated_model, reference)
    assert_same_outputs(generated_model, reference)


@pytest.mark.keras
def test_unseeded_initializers_are_not_shared_between_layers() -> None:
    """An unseeded Keras initializer draws its seed once; reused, two same-shaped layers would
    start equal, which the spec does not say. Each layer gets its own copy, as in `to_keras`."""
    pytest.importorskip("keras")
    import numpy as np

    from resnet_dsl.backends.keras import to_keras

    network = loads(UNSEEDED)
    source = to_python(network)
    assert "kernel_initializer=keras.initializers.get(init).clone()" in source
    model = import_source(source).build_model()
    assert_same_model(model, to_keras(network))
    first, second = (model.get_layer(name).get_weights()[0] for name in ("s_block1_1_conv", "s_block1_2_conv"))
    assert not np.array_equal(first, second)


@pytest.mark.keras
def test_positional_arguments_are_in_keras_order() -> None:
    """What the code passes by position is each Keras class's leading parameters, in order."""
    keras = pytest.importorskip("keras")
    import inspect

    from resnet_dsl.backends import keras_layers

    def leading(kind: str, count: int) -> tuple[str, ...]:
        name = keras_views.KERAS_CLASSES[kind]
        cls = getattr(keras.layers, name, None) or getattr(keras_layers, name)  # ours: ChannelSplit, Select
        return tuple(list(inspect.signature(cls).parameters)[:count])

    for kind, fields in keras_views.POSITIONAL_FIELDS.items():
        assert leading(kind, len(fields)) == fields
    for text in SAMPLE_CALLS:
        op, config = sample(text)
        if op.positional and config.kind not in keras_views.CUSTOM_ARGS:
            names = tuple(views.keras_keyword(config.kind, o.name) for o in op.options[: op.positional])
            assert leading(config.kind, op.positional) == names
    for cls in pysource.INITIALIZER_CLASSES.values():
        assert issubclass(getattr(keras.initializers, cls), keras.initializers.Initializer)


def test_classes_sets_the_dense_layer_whose_units_are_written_classes() -> None:
    text = (
        "network N(input = 8x8x3, classes = 4) {\n"
        '  head {\n    flatten -> dense(units=classes) -> dense(4) as "fixed"\n  }\n}\n'
    )
    source = to_python(loads(text))
    assert "def build_model(input_shape=(8, 8, 3), classes=4):" in source
    assert 'x = layers.Dense(classes, name="dense")(x)' in source
    assert 'x = layers.Dense(4, name="fixed")(x)' in source  # equal to classes, but written as a number


def test_no_classes_parameter_when_no_layer_is_written_with_it() -> None:
    source = to_python(loads("network N(input = 8x8x3, classes = 4) {\n  head {\n    flatten -> dense(4)\n  }\n}\n"))
    assert "def build_model(input_shape=(8, 8, 3)):" in source


def test_block_docstrings_come_from_the_spec_comments() -> None:
    import ast

    text = '''# A gated block; its "gate" is the input. Two sentences.
# filters: output channels, \\ and """ included
block gated(filters, kernel = 3) {
  main { conv(filters, kernel, padding=same) }
  out = add(main, shortcut)
}

network N(input = 8x8x4, classes = 2) {
  stage s1: gated(4)
  head { global_avgpool -> dense(classes) }
}
'''
    source = resnet_dsl.to_python(resnet_dsl.loads(text))
    function = next(
        node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == "gated"
    )
    doc = ast.get_docstring(function)
    assert doc.startswith('A gated block; its "gate" is the input. Two sentences.\n')
    assert '    filters: output channels, \\ and """ included (required).' in doc
    assert "    kernel: 3 by default." in doc  # no comment: as before
