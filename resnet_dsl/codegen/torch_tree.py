"""Generated torch that builds a zoo's module tree itself, as torchvision's own model files do.

Where a spec places each block as one module (`stage s as "features.{index + 1}"`) and every
layer of a block inside it, the model's `__init__` makes the zoo's containers whole
(`self.features = nn.Sequential(nn.Sequential(conv, bn, act), InvertedResidualFirst(32, 16),
...)`), each block class registers its layers at their paths in it (`self.conv =
nn.Sequential(nn.Sequential(...), ...)`), and `forward` calls a container once where its members
run one after another (`x = self.features(x)`), member by member otherwise (`module_calls`).
A block's first layers placed outside it (torchvision's ConvNeXt holds a stage's downsampling
in `features.{2k}`) are the model's, run just before it; a layer scale placed in a block is its
parameter (`self.layer_scale`). Every path is the layout's (`Layout.module_paths`), so the
zoo's state_dict loads key for key. A layout this does not cover (a block's layer placed
outside it that is not such a start, a parameter inside a container) is built as
`torch_layout` builds it and moved by `rehome` (`direct` says None).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.backends import torch_places as places
from resnet_dsl.codegen.pysource import py_string
from resnet_dsl.codegen.torch_views import Call, LayerSource, call_lines, flat_call
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming


@dataclass(frozen=True)
class Direct:
    """A layout whose blocks' nodes hold their paths in their block (`conv.0.0`), its stem's and
    head's their paths from the model (`features.0.0`), with each block's path from the model."""

    layout: torch_layout.Layout
    homes: tuple[tuple[str, ...], ...]
    """Per stage, each block's module path from the model (`features.3`)."""
    before: tuple[tuple[tuple[torch_layout.Node, ...], ...], ...]
    """Per stage, each block's first layers that the spec places outside it, at their paths from
    the model: the model makes and runs them just before it (torchvision's ConvNeXt downsampling)."""

    def outside(self) -> tuple[torch_layout.Node, ...]:
        """The blocks' layers the model makes itself."""
        return tuple(node for stage in self.before for first in stage for node in first)

    def functional(self, node: torch_layout.Node) -> bool:
        """A global pool of the model the spec places nowhere: written in `forward` as torchvision
        writes MobileNetV2's (`nn.functional.adaptive_avg_pool2d`), so the model has no such child."""
        return node.layer.kind == "global_avgpool" and node.name not in self.layout.stated


def direct(layout: torch_layout.Layout) -> Direct | None:
    """The layout as the zoo's tree, where the spec places every block whole; else None."""
    if not layout.stated:
        return None
    network = layout.network
    homes = places.block_modules(network)
    placed = layout.placed()
    fields = naming.torch_fields([(stage.label, [b.name for b in stage.blocks]) for stage in network.stages])
    stages, paths, outside = [], [], []
    for stage in layout.stages:
        scopes, here, firsts = [], [], []
        for instance, scope in zip(stage.stage.blocks, stage.blocks, strict=True):
            if instance.name not in homes:
                return None
            home = naming.torch_path(homes[instance.name], fields[instance.name])
            nodes, first = [], []
            for node in scope.nodes:
                path = placed.get(node.name) if node.module is not None else None
                if node.module is not None and path is None:
                    return None
                if path is not None and not path.startswith(home + "."):
                    first.append(dataclasses.replace(node, module=path))
                else:
                    nodes.append(node if path is None else dataclasses.replace(node, module=path[len(home) + 1 :]))
            if not _leading_chain(scope, first, nodes):
                return None
            if any(n.layer.kind == "layer_scale" and "." in (n.module or "") for n in (*first, *nodes)):
                return None  # a parameter inside a container: `rehome` places it
            start = first[-1].name if first else scope.input
            scopes.append(dataclasses.replace(scope, input=start, nodes=tuple(nodes), containers=containers(nodes)))
            here.append(home)
            firsts.append(tuple(first))
        stages.append(dataclasses.replace(stage, blocks=tuple(scopes)))
        paths.append(tuple(here))
        outside.append(tuple(firsts))
    if any(node.layer.kind == "layer_scale" for node in (*layout.stem.nodes, *layout.head.nodes)):
        return None
    model = layout.module_paths()

    def at_paths(scope: torch_layout.Scope) -> torch_layout.Scope:
        nodes = tuple(dataclasses.replace(n, module=model.get(n.name, n.module)) for n in scope.nodes)
        return dataclasses.replace(scope, nodes=nodes, containers=containers(nodes))

    made = dataclasses.replace(layout, stem=at_paths(layout.stem), stages=tuple(stages), head=at_paths(layout.head))
    return Direct(made, tuple(paths), tuple(outside))


def _leading_chain(
    scope: torch_layout.Scope, first: Sequence[torch_layout.Node], rest: Sequence[torch_layout.Node]
) -> bool:
    """Whether the layers placed outside the block come first, each fed by the one before from
    the block's input, and only the last feeds the rest: the model may run them before it."""
    if not first:
        return True
    if [node.name for node in scope.nodes[: len(first)]] != [node.name for node in first]:
        return False
    feeds = [scope.input, *(node.name for node in first)]
    if any(node.inputs != (feeds[index],) for index, node in enumerate(first)):
        return False
    return not any(name in feeds[:-1] for node in rest for name in node.inputs)


def containers(nodes: Sequence[torch_layout.Node]) -> tuple[tuple[str, torch_layout.Container], ...]:
    """Each container the nodes' paths run through: an nn.Sequential where its children are indices."""
    found: dict[str, torch_layout.Container] = {}
    for node in nodes:
        parts = (node.module or "").split(".")
        for depth in range(1, len(parts)):
            found.setdefault(".".join(parts[:depth]), "sequential" if parts[depth].isdigit() else "dict")
    return tuple(found.items())


def written_order(nodes: Sequence[torch_layout.Node]) -> list[torch_layout.Node]:
    """A placed block's nodes in the order the spec writes them, which is the order the zoo makes
    its modules, so its state_dict's (torchvision makes RegNet's `proj` before `f`, which runs first)."""
    return sorted(nodes, key=lambda node: (node.layer.span.line, node.layer.span.column))


# ---------------------------------------------------------------- forward --


def module_calls(modules: Sequence[str | None], chained: Sequence[bool]) -> list[tuple[int, int, str | None]]:
    """(first, end, the module to call) per call of `forward`: a node's outermost container whose
    modules are exactly those from it on, each fed by the one before, in the container's order
    (`self.features`); else the node's own module. `chained[i]`: node i reads node i - 1 alone."""
    found: list[tuple[int, int, str | None]] = []
    position = 0
    while position < len(modules):
        module = modules[position]
        end, called = position + 1, module
        parts = module.split(".") if module is not None else []
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            inside = [i for i, m in enumerate(modules) if m is not None and m.startswith(prefix + ".")]
            stop = position + len(inside)
            together = inside == list(range(position, stop)) and all(chained[position + 1 : stop])
            if together and in_order([m for m in modules[position:stop] if m is not None]):
                end, called = stop, prefix
                break
        found.append((position, end, called))
        position = end
    return found


def in_order(modules: Sequence[str]) -> bool:
    """Whether modules run as their containers run them: each container's together, an
    nn.Sequential's by index (a named container's children come in the order they run)."""
    closed: set[tuple[str, ...]] = set()
    previous: list[str] | None = None
    for module in modules:
        parts = module.split(".")
        if previous is not None:
            differ = next((i for i, (a, b) in enumerate(zip(previous, parts, strict=False)) if a != b), None)
            if differ is None:
                return False
            if previous[differ].isdigit() and parts[differ].isdigit() and int(parts[differ]) < int(previous[differ]):
                return False
            closed |= {tuple(previous[:i]) for i in range(differ + 1, len(previous) + 1)}
            if any(tuple(parts[:i]) in closed for i in range(differ + 1, len(parts) + 1)):
                return False
        previous = parts
    return True


def expression(path: str, tree: Mapping[str, Any]) -> str:
    """A module path as Python: `features.0` -> `self.features[0]`; a name that is no Python
    name (torchvision's `block1-0`) by its place in its nn.Sequential."""
    text, node = "self", tree
    for part in path.split("."):
        if part.isdigit():
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{list(node).index(part)}]"
        node = node[part] if isinstance(node, Mapping) else {}
    return text


# ------------------------------------------------------------------ model --


def model_body(
    tree: Direct,
    blocks: Sequence[Sequence[Call]],
    sources: Mapping[str, LayerSource],
    helpers: set[str],
) -> tuple[list[str], list[str]]:
    """The model's `__init__` lines after `super().__init__()` and its `forward` lines before
    `return x`: the zoo's containers made whole, called once where they run whole."""
    layout = tree.layout
    steps: list[tuple[str | None, Call | None]] = []  # (path, what makes it) in the order they run
    for node in layout.stem.nodes:
        steps.append((node.module, sources[node.name].constructor(helpers)))
    for homes, calls, before in zip(tree.homes, blocks, tree.before, strict=True):
        for home, call, first in zip(homes, calls, before, strict=True):
            steps += [(node.module, sources[node.name].constructor(helpers)) for node in first]
            steps.append((home, call))
    pools = {}
    for node in layout.head.nodes:
        if tree.functional(node):
            assert isinstance(node.layer.config, nw.GlobalPoolConfig)
            pools[len(steps)] = node.layer.config.keepdims
            steps.append((None, None))
        else:
            steps.append((node.module, sources[node.name].constructor(helpers)))
    made: dict[str, Any] = {}
    for path, call in steps:
        if path is not None:
            *parents, name = path.split(".")
            holder = made
            for part in parents:
                holder = holder.setdefault(part, {})
            holder[name] = call
    init: list[str] = []
    for name, value in made.items():
        init += call_lines(f"self.{name} = ", container(value, helpers), "", 8)
    forward: list[str] = []
    paths = [path for path, _ in steps]
    for first, _, called in module_calls(paths, [True] * len(paths)):
        if called is not None:
            forward.append(f"x = {expression(called, made)}(x)")
        else:
            forward.append("x = nn.functional.adaptive_avg_pool2d(x, 1)")
            forward += [] if pools[first] else ["x = torch.flatten(x, 1)"]
    return init, forward


def container(tree: Any, helpers: set[str]) -> Call:
    """A container as one call: an nn.Sequential by index (nn.Identity where none is; a run of
    equal modules as `*(... for _ in range(n))`), else by name (an OrderedDict, as torchvision
    names RegNet's `block1-0`); a module itself as it is."""
    if isinstance(tree, Call):
        return tree
    if all(key.isdigit() for key in tree):
        slots = range(max(map(int, tree)) + 1)
        made = [container(tree[str(i)], helpers) if str(i) in tree else Call("nn.Identity") for i in slots]
        items: list[tuple[str, str | Call]] = []
        for _, run in itertools.groupby(made, key=flat_call):
            run = list(run)
            items.append(("", run[0]) if len(run) == 1 else ("", f"*({flat_call(run[0])} for _ in range({len(run)}))"))
        return Call("nn.Sequential", tuple(items))
    helpers.add("OrderedDict")
    pairs = tuple(("", Call("", (("", py_string(k)), ("", container(v, helpers))))) for k, v in tree.items())
    return Call("nn.Sequential", (("", Call("OrderedDict", (("", Call("", pairs, "[]")),))),))
