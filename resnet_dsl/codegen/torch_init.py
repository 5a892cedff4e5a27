"""The generated model's `init_weights`: the spec's initializers as `torch.nn.init` calls in one
pass, as torchvision's ResNet constructor states its own.

Every weighted module is grouped by its torch class; the scheme most of a class's modules
share becomes one branch of an `isinstance` loop over `self.modules()`
(`kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")` for nn.Conv2d), and the
tensors that differ follow it: one `isinstance` loop over the block classes where every
instance of a block differs alike (timm's zeroed last BatchNorm, `nn.init.zeros_(m.bn3.weight)`),
else one statement per module path. A Keras initializer is written as the `torch.nn.init` call
that draws the same distribution (glorot_uniform is `xavier_uniform_`, he_uniform is
`kaiming_uniform_(nonlinearity="relu")`); where torch has none (Keras's truncated variance
scaling, a depthwise kernel's fans, which Keras counts per input channel and multiplier) the
model carries the small `variance_scaling_` helper, and only then.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import py_string, py_value
from resnet_dsl.codegen.torch_containers import module_expression
from resnet_dsl.codegen.torch_views import Call, Method, call_lines
from resnet_dsl.network import model as nw
from resnet_dsl.network.option_values import variance_scaling_of

GAINS = {2.0: ("nonlinearity", '"relu"'), 1.0: ("nonlinearity", '"linear"')}
"""A variance scale as kaiming_*'s gain: 2 is ReLU's, 1 the identity's (1/3 is nn.Linear's own,
`a=math.sqrt(5)`, handled apart)."""

BRANCH_ORDER = (
    "nn.Conv2d",
    "nn.Conv1d",
    "nn.BatchNorm2d",
    "nn.BatchNorm1d",
    "nn.GroupNorm",
    "nn.LayerNorm",
    "nn.Linear",
)
"""The torch classes a weighted layer is an instance of, in the order the loop tests them
(torchvision's: convolutions, norms, the classifier). None is a subclass of another."""

TENSOR = "{tensor}"
"""Where a statement's tensor goes, so statements compare whatever module they are for."""


@dataclass(frozen=True)
class Statements:
    """Lines that fill TENSOR where one call cannot: a bias drawn with its kernel's fans, as
    torch's own `reset_parameters` writes it (`bound = 1 / math.sqrt(fan_in)`)."""

    lines: tuple[tuple[str, Call | None], ...]
    """(text, None) for a line as it is, (head, call) for `head` + a call laid out as ruff would."""


Statement = Call | Statements


@dataclass(frozen=True)
class Weighted:
    """One module with initialised tensors: its torch class, where it is, and a statement per tensor."""

    torch_class: str
    path: str
    """Its built path in the model: `layer1.0.conv1`."""
    block: tuple[str, str] | None
    """(its block's class, its path in the block), for a module of a block."""
    tensors: tuple[tuple[str, Statement], ...]
    """(`weight` or `bias`, the statement that fills it, its tensor written as TENSOR)."""


def seeded(init: nw.Initializer) -> tuple[tuple[str, str], ...]:
    """The `generator=` argument of a seeded initializer's call; none without a seed."""
    return (("generator", f"torch.Generator().manual_seed({init.seed})"),) if init.seed is not None else ()


def init_call(init: nw.Initializer, groups: bool | None = None, vector: bool = False) -> tuple[Call, set[str]]:
    """A Keras initializer as one `torch.nn.init` call on TENSOR, and the helpers it needs
    (`variance_scaling_`, `math`). `groups`: a depthwise kernel, whose fans Keras counts per
    input channel and multiplier (True: a multiplier of 1, False: another, None: not depthwise).
    `vector`: a norm's scale or shift, whose fans torch does not count (Keras: its length)."""
    args = dict(init.args)
    generator = seeded(init)
    tensor = ("", TENSOR)
    if init.name in ("zeros", "ones"):
        return Call(f"nn.init.{init.name}_", (tensor,)), set()
    if init.name == "constant":
        return Call("nn.init.constant_", (tensor, ("", py_value(float(args.get("value", 0.0)))))), set()
    if init.name == "random_normal":
        mean, std = float(args.get("mean", 0.0)), float(args.get("stddev", 0.05))
        moments = (("mean", py_value(mean)),) if mean else ()
        return Call("nn.init.normal_", (tensor, *moments, ("std", py_value(std)), *generator)), set()
    if init.name == "random_uniform":
        low, high = float(args.get("minval", -0.05)), float(args.get("maxval", 0.05))
        return Call("nn.init.uniform_", (tensor, ("", py_value(low)), ("", py_value(high)), *generator)), set()
    if init.name == "truncated_normal":  # Keras truncates at two deviations
        mean, std = float(args.get("mean", 0.0)), float(args.get("stddev", 0.05))
        moments = (("mean", py_value(mean)),) if mean else ()
        bounds = (("a", py_value(mean - 2 * std)), ("b", py_value(mean + 2 * std)))
        return Call("nn.init.trunc_normal_", (tensor, *moments, ("std", py_value(std)), *bounds, *generator)), set()
    if init.name == "orthogonal":
        gain = float(args.get("gain", 1.0))
        return Call(
            "nn.init.orthogonal_", (tensor, *((("gain", py_value(gain)),) if gain != 1 else ()), *generator)
        ), set()
    scaling = variance_scaling_of(init.name, args)
    if scaling is None:
        raise ValueError(f"unknown initializer {init.name!r}")
    return scaled_call(*scaling, groups, generator, vector)


def scaled_call(
    scale: float,
    mode: str,
    distribution: str,
    groups: bool | None,
    generator: tuple[tuple[str, str], ...],
    vector: bool = False,
) -> tuple[Call, set[str]]:
    """`variance_scaling(scale, mode, distribution)` as torch's own call where one draws the same:
    xavier_* for fan_avg at scale 1, kaiming_* for fan_in or fan_out at a gain it names."""
    tensor = ("", TENSOR)
    if groups is True and mode == "fan_avg":  # a multiplier of 1 moves as many to fan in as from fan out
        groups = None
    if groups is None and not vector and distribution in ("uniform", "untruncated_normal"):
        kind = "uniform_" if distribution == "uniform" else "normal_"
        if mode == "fan_avg" and scale == 1.0:
            return Call(f"nn.init.xavier_{kind}", (tensor, *generator)), set()
        if mode != "fan_avg":
            modes = (("mode", py_string(mode)),) if mode == "fan_out" else ()
            if math.isclose(scale, 1 / 3):  # nn.Linear's and nn.Conv2d's own draw
                return Call(f"nn.init.kaiming_{kind}", (tensor, ("a", "math.sqrt(5)"), *modes, *generator)), {"math"}
            if scale in GAINS:
                keyword, value = GAINS[scale]
                return Call(f"nn.init.kaiming_{kind}", (tensor, *modes, (keyword, value), *generator)), set()
    args = [tensor, ("", py_value(scale)), ("", py_string(mode)), ("", py_string(distribution))]
    if groups is not None:
        args.append(("groups", TENSOR.replace("tensor", "module") + ".groups"))
    return Call("variance_scaling_", (*args, *generator)), {"variance_scaling_"}


def bias_statement(init: nw.Initializer, groups: bool | None = None) -> tuple[Statement, set[str]]:
    """A bias's initializer: a fan-scaled one counts the fans of its module's weight (torch's
    `_calculate_fan_in_and_fan_out`, Keras's count for a depthwise kernel), any other is `init_call`'s."""
    scaling = variance_scaling_of(init.name, dict(init.args))
    if scaling is None:
        return init_call(init, vector=True)
    scale, mode, distribution = scaling
    names = {"fan_in": "fan_in, _", "fan_out": "_, fan_out"}.get(mode, "fan_in, fan_out")
    weight = ("", "{module}.weight")
    lines: list[tuple[str, Call | None]] = [(f"{names} = ", Call("nn.init._calculate_fan_in_and_fan_out", (weight,)))]
    if groups is not None and not (groups and mode == "fan_avg"):  # Keras's count for a depthwise kernel
        lines += [
            (f"{fan} {op}= {{module}}.groups", None) for fan, op in (("fan_in", "*"), ("fan_out", "//")) if fan in names
        ]
    fan = {"fan_in": "fan_in", "fan_out": "fan_out"}.get(mode, "fan")
    lines += [("fan = (fan_in + fan_out) / 2", None)] if fan == "fan" else []
    tensor = ("", TENSOR)
    generator = seeded(init)
    if distribution == "uniform":
        bound = f"1 / math.sqrt({fan})" if math.isclose(scale, 1 / 3) else f"math.sqrt({py_value(3 * scale)} / {fan})"
        draw = Call("nn.init.uniform_", (tensor, ("", "-bound"), ("", "bound"), *generator))
        lines += [(f"bound = {bound}", None), ("", draw)]
    elif distribution == "untruncated_normal":
        lines.append(
            ("", Call("nn.init.normal_", (tensor, ("std", f"math.sqrt({py_value(scale)} / {fan})"), *generator)))
        )
    else:  # Keras divides by the deviation of a normal cut at two deviations
        lines.append((f"std = math.sqrt({py_value(scale)} / {fan}) / 0.87962566103423978", None))
        bounds = (("std", "std"), ("a", "-2 * std"), ("b", "2 * std"))
        lines.append(("", Call("nn.init.trunc_normal_", (tensor, *bounds, *generator))))
    return Statements(tuple(lines)), {"math"}


def weighted_modules(
    layout: torch_layout.Layout,
    block_classes: Mapping[tuple[str, str], str],
    helpers: set[str],
    homes: Sequence[Sequence[str]] | None = None,
    before: Sequence[Sequence[Sequence[torch_layout.Node]]] = (),
) -> list[Weighted]:
    """Every module with initialised tensors, in the order the model makes them; `homes`: each
    stage's blocks' paths where the model is the zoo's tree (`torch_tree`)."""
    found: list[Weighted] = []
    scopes: list[tuple[str, str | None, torch_layout.Scope]] = [("", None, layout.stem)]
    for number, stage in enumerate(layout.stages):
        for index, (instance, scope) in enumerate(zip(stage.stage.blocks, stage.blocks, strict=True)):
            home = homes[number][index] if homes else f"{stage.attribute}.{index}"
            if before and before[number][index]:  # made by the model, at their paths from it
                scopes.append(("", None, torch_layout.Scope(scope.input, tuple(before[number][index]))))
            scopes.append((f"{home}.", block_classes[instance.block, instance.name], scope))
    scopes.append(("", None, layout.head))
    for prefix, block, scope in scopes:
        for node in scope.nodes:
            if node.module is None:
                continue
            for suffix, torch_class, tensors in node_tensors(node, helpers):
                local = node.module + suffix
                found.append(Weighted(torch_class, prefix + local, (block, local) if block else None, tensors))
    return found


def node_tensors(node: torch_layout.Node, helpers: set[str]) -> Iterable[tuple[str, str, tuple[tuple[str, Call], ...]]]:
    """(path below the layer's module, torch class, its tensors' statements) per module of a layer."""
    config = node.layer.config

    def kernel(
        init: nw.Initializer, bias: nw.Initializer | None, groups: bool | None = None
    ) -> tuple[tuple[str, Statement], ...]:
        call, needs = init_call(init, groups)
        helpers.update(needs)
        if bias is None:
            return (("weight", call),)
        statement, bias_needs = bias_statement(bias, groups)
        helpers.update(bias_needs)
        return ("weight", call), ("bias", statement)

    bias = getattr(config, "bias_initializer", None) if getattr(config, "use_bias", False) else None
    if isinstance(config, nw.Conv2DConfig):
        yield "", "nn.Conv2d", kernel(config.kernel_initializer, bias)
    elif isinstance(config, nw.DepthwiseConv2DConfig):
        yield "", "nn.Conv2d", kernel(config.depthwise_initializer, bias, config.depth_multiplier == 1)
    elif isinstance(config, nw.SeparableConv2DConfig):
        yield ".depthwise", "nn.Conv2d", kernel(config.depthwise_initializer, None, config.depth_multiplier == 1)
        yield ".pointwise", "nn.Conv2d", kernel(config.pointwise_initializer, bias)
    elif isinstance(config, nw.Conv1DConfig):
        yield "", "nn.Conv1d", kernel(config.kernel_initializer, bias)
    elif isinstance(config, nw.DenseConfig):
        yield "", "nn.Linear", kernel(config.kernel_initializer, bias)
    elif isinstance(config, nw.BatchNormConfig):
        norm = "nn.BatchNorm2d" if len(node.in_shape) == 3 else "nn.BatchNorm1d"
        gamma, gamma_needs = init_call(config.gamma_initializer, vector=True)
        beta, beta_needs = init_call(config.beta_initializer, vector=True)
        helpers.update(gamma_needs | beta_needs)
        yield "", norm, (("weight", gamma), ("bias", beta))
    elif isinstance(config, (nw.GroupNormConfig, nw.LayerNormConfig)):
        norm = "nn.GroupNorm" if isinstance(config, nw.GroupNormConfig) else "nn.LayerNorm"
        ones, zeros = (Call(f"nn.init.{name}_", (("", TENSOR),)) for name in ("ones", "zeros"))
        yield "", norm, (("weight", ones), ("bias", zeros))


def written(call: Call, tensor: str) -> Call:
    """The call with its tensor (and the module a depthwise kernel's groups are read from) filled in."""
    module = tensor.rpartition(".")[0]
    args = tuple(
        (keyword, value.replace(TENSOR, tensor).replace("{module}", module) if isinstance(value, str) else value)
        for keyword, value in call.args
    )
    return Call(call.callee, args)


def statement_lines(statement: Statement, tensor: str, indent: int) -> list[str]:
    """The statement filling `tensor`, laid out for a body indented by `indent`."""
    if isinstance(statement, Call):
        return call_lines("", written(statement, tensor), "", indent)
    module = tensor.rpartition(".")[0]
    lines: list[str] = []
    for text, call in statement.lines:
        text = text.replace("{module}", module)
        lines += [text] if call is None else call_lines(text, written(call, tensor), "", indent)
    return lines


def init_weights(modules: list[Weighted], block_counts: Mapping[str, int]) -> Method:
    """`init_weights`: the common scheme per torch class as one loop, then what differs."""
    common: dict[str, dict[str, Statement]] = {}
    for torch_class in BRANCH_ORDER:
        members = [module for module in modules if module.torch_class == torch_class]
        if members:
            counts = Counter((name, call) for module in members for name, call in module.tensors)
            names = dict.fromkeys(name for module in members for name, _ in module.tensors)
            common[torch_class] = {
                name: max((call for n, call in counts if n == name), key=lambda call, n=name: counts[n, call])
                for name in names
            }
    branches: dict[str, list[str]] = {}
    for torch_class, tensors in common.items():
        members = [module for module in modules if module.torch_class == torch_class]
        body: list[str] = []
        for name, call in tensors.items():
            holders = sum(any(n == name for n, _ in module.tensors) for module in members)
            line = statement_lines(call, f"m.{name}", 16 if holders == len(members) else 20)
            if holders == len(members):
                body += line
            else:
                body += [f"if m.{name} is not None:", *("    " + text for text in line)]
        branches[torch_class] = body
    lines = isinstance_loop(branches)
    lines += exceptions(modules, common, block_counts)
    doc = ("The spec's initializers: one scheme per kind of layer, then what differs from it.",)
    return Method("init_weights", ("self",), " -> None", doc, tuple(lines))


def exceptions(
    modules: list[Weighted], common: Mapping[str, Mapping[str, Statement]], counts: Mapping[str, int]
) -> list[str]:
    """The tensors the loop draws otherwise than the spec says: per block class where every
    instance of it differs alike, else per module path."""
    differing: list[tuple[Weighted, str, Statement]] = [
        (module, name, call)
        for module in modules
        for name, call in module.tensors
        if common.get(module.torch_class, {}).get(name) != call
    ]
    by_block: dict[tuple[str, str, str, Statement], int] = Counter(
        (module.block[0], module.block[1], name, call) for module, name, call in differing if module.block
    )
    shared = {key for key, seen in by_block.items() if seen == counts.get(key[0])}
    per_class: dict[str, list[str]] = {}
    lines: list[str] = []
    done: set[tuple[str, str, str, Statement]] = set()
    for module, name, call in differing:
        key = (module.block[0], module.block[1], name, call) if module.block else None
        if key is None or key not in shared:
            lines += statement_lines(call, module_expression(module.path) + f".{name}", 8)
        elif key not in done:
            done.add(key)
            tensor = "m" + module_expression(key[1])[len("self") :] + f".{name}"
            per_class.setdefault(key[0], []).extend(statement_lines(call, tensor, 16))
    if not per_class:
        return lines
    return [*isinstance_loop(per_class), *lines]


def isinstance_loop(bodies: Mapping[str, list[str]]) -> list[str]:
    """`for m in self.modules():` with one branch per body, the classes that share one together."""
    merged: dict[tuple[str, ...], list[str]] = {}
    for torch_class, body in bodies.items():
        merged.setdefault(tuple(body), []).append(torch_class)
    loop = ["for m in self.modules():"]
    for position, (body, classes) in enumerate(merged.items()):
        kinds: str | Call = classes[0] if len(classes) == 1 else Call("", tuple(("", kind) for kind in classes))
        test = Call("isinstance", (("", "m"), ("", kinds)))
        loop += ["    " + line for line in call_lines("elif " if position else "if ", test, ":", 12)]
        loop += ["        " + line for line in body]
    return loop
