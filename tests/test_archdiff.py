"""`resnet_dsl.diff` and `resnet-dsl diff`: architectural changes and their cost, never layout.

Also the git integration the README documents: `*.arch diff=arch` with
`diff.arch.textconv = resnet-dsl describe --textconv`, and `git difftool` running
`resnet-dsl diff "$LOCAL" "$REMOTE"`, each checked in a throwaway repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from math import prod
from pathlib import Path

import pytest

from resnet_dsl.network.api import load
from resnet_dsl.network.loader import loads_program
from resnet_dsl.review.archdiff import ArchDiff, diff
from resnet_dsl.review.diffreport import describe, render_json, render_markdown, render_text
from tests.conftest import REPO, SPECS

RESNET50 = "specs/keras/resnet50.arch"
RESNET101 = "specs/keras/resnet101.arch"


@pytest.fixture(scope="module")
def keras_50_to_101() -> ArchDiff:
    return diff(load(REPO / RESNET50), load(REPO / RESNET101), old_source=RESNET50, new_source=RESNET101)


def _variant(tmp_path: Path, name: str, old: str, new: str, source: str = RESNET50) -> Path:
    """A copy of a shipped spec with one piece of text replaced (which must be there)."""
    text = (REPO / source).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# ------------------------------------------------------------------- API --
def test_resnet50_to_101_is_conv4_going_from_6_to_23_blocks(keras_50_to_101: ArchDiff) -> None:
    (stage,) = keras_50_to_101.stages
    assert (stage.label, stage.status, stage.blocks.old, stage.blocks.new) == ("conv4", "changed", 6, 23)
    (run,) = stage.runs
    assert (run.status, run.first, run.last, run.count) == ("added", "conv4_block7", "conv4_block23", 17)
    assert run.new == "bottleneck_v1(filters=256, kernel=3, stride=1)"
    assert stage.output_shape_old == stage.output_shape_new == (14, 14, 1024)


def test_resnet50_to_101_costs(keras_50_to_101: ArchDiff) -> None:
    total = keras_50_to_101.total
    assert (total.params.old, total.params.new) == (25_636_712, 44_707_176)
    assert total.params.difference == 44_707_176 - 25_636_712 == 19_070_464
    assert total.params.percent == 74.39
    rows = {row.section: row for row in keras_50_to_101.costs}
    assert list(rows) == ["stem", "conv2", "conv3", "conv4", "conv5", "head", "total"]
    assert rows["conv4"].params.difference == 19_070_464
    assert all(rows[s].params.difference == rows[s].macs.difference == 0 for s in ("stem", "conv2", "conv5", "head"))
    # 17 more identity bottlenecks at 14x14: 1x1 1024 -> 256, 3x3 256 -> 256, 1x1 256 -> 1024, each with bias and BN
    block_params = (1024 * 256 + 256) + (9 * 256 * 256 + 256) + (256 * 1024 + 1024) + 4 * (256 + 256 + 1024)
    assert 17 * block_params == 19_070_464
    assert (
        total.macs.difference
        == rows["conv4"].macs.difference
        == 17 * 14 * 14 * (1024 * 256 + 9 * 256 * 256 + 256 * 1024)
    )
    assert (keras_50_to_101.layers.old, keras_50_to_101.layers.new) == (177, 347)


def test_resnet50_to_101_network_parameters(keras_50_to_101: ArchDiff) -> None:
    changes = {c.name: (c.old, c.new) for c in keras_50_to_101.parameters}
    assert changes == {"name": ("ResNet50", "ResNet101"), "depths": ([3, 4, 6, 3], [3, 4, 23, 3])}
    assert keras_50_to_101.stem == keras_50_to_101.head == ()
    assert keras_50_to_101.definitions == ()
    assert keras_50_to_101.changed


def test_a_network_equals_itself() -> None:
    network = load(REPO / RESNET50)
    result = diff(network, load(REPO / RESNET50))
    assert not result.changed
    assert (result.parameters, result.stages, result.stem, result.head, result.definitions) == ((), (), (), (), ())
    assert "no architectural change" in render_text(result)


def test_changed_block_arguments_are_grouped_into_runs(tmp_path: Path) -> None:
    narrow = _variant(
        tmp_path,
        "narrow.arch",
        "bottleneck_v1_projection(256), bottleneck_v1(256)",
        "bottleneck_v1_projection(128), bottleneck_v1(128)",
    )
    result = diff(load(REPO / RESNET50), load(narrow))
    conv4, conv5 = result.stages
    first, rest = conv4.runs
    assert (first.first, first.count, rest.first, rest.last, rest.count) == (
        "conv4_block1",
        1,
        "conv4_block2",
        "conv4_block6",
        5,
    )
    changes = {c.name: (c.old, c.new) for c in rest.changes}
    assert changes == {"filters": (256, 128), "output_shape": ([14, 14, 1024], [14, 14, 512])}
    assert conv4.output_shape_new == (14, 14, 512)
    # conv5 is called the same way, but its first convolutions now see 512 channels, not 1024.
    assert (conv5.label, conv5.runs, conv5.layers_changed) == ("conv5", (), 2)
    assert result.total.params.difference < 0


def test_runs_never_span_an_unchanged_block(tmp_path: Path) -> None:
    gappy = _variant(
        tmp_path,
        "gappy.arch",
        "bottleneck_v1(256) * (depths[2] - 1)",
        "bottleneck_v1(256, kernel=5), bottleneck_v1(256), bottleneck_v1(256, kernel=5), bottleneck_v1(256) * 2",
    )
    (stage,) = diff(load(REPO / RESNET50), load(gappy)).stages
    assert [(run.first, run.last, run.count) for run in stage.runs] == [
        ("conv4_block2", "conv4_block2", 1),
        ("conv4_block4", "conv4_block4", 1),
    ]
    assert all({c.name: (c.old, c.new) for c in run.changes} == {"kernel": (3, 5)} for run in stage.runs)


def test_changed_block_definitions_are_shown_as_a_diff(tmp_path: Path) -> None:
    header = "block bottleneck_v1(filters, kernel = 3, stride = 1) {"
    block = (REPO / "resnet_dsl/prelude.arch").read_text().split(header)[1]
    block = header + block.split("\n}\n")[0] + "\n}\n"
    own = block.replace("conv(filters, kernel, padding=same)", "conv(filters, kernel, padding=same, use_bias=false)")
    spec = (REPO / RESNET50).read_text() + "\n" + own
    path = tmp_path / "own_block.arch"
    path.write_text(spec)
    result = diff(load(REPO / RESNET50), load(path))
    definitions = {d.name: d for d in result.definitions}
    # bottleneck_v1_projection derives from bottleneck_v1, so the spec's own definition changes it too
    assert set(definitions) == {"bottleneck_v1", "bottleneck_v1_projection"}
    definition = definitions["bottleneck_v1"]
    assert definition.status == "changed"
    assert "-    conv(filters, kernel, padding=same) -> bn -> relu" in definition.lines
    assert "+    conv(filters, kernel, padding=same, use_bias=false) -> bn -> relu" in definition.lines
    # The consequence: the 3x3 convolution of every block (3 + 4 + 6 + 3) loses its bias.
    assert result.total.params.difference == -(64 * 3 + 128 * 4 + 256 * 6 + 512 * 3)
    assert {stage.label for stage in result.stages} == {"conv2", "conv3", "conv4", "conv5"}
    assert all(not s.runs and s.layers_changed for s in result.stages), "same arguments, other layers"


def test_stem_and_head_layers_are_matched_by_name(tmp_path: Path) -> None:
    path = _variant(tmp_path, "small.arch", "classes = 1000", "classes = 10")
    result = diff(load(REPO / RESNET50), load(path))
    (change,) = result.head
    assert (change.name, change.status) == ("predictions", "changed")
    assert {c.name: (c.old, c.new) for c in change.fields} == {"units": (1000, 10), "output_shape": ([1000], [10])}
    assert result.output_shape is not None and (result.output_shape.old, result.output_shape.new) == ([1000], [10])
    assert result.stages == ()


def test_stages_added_and_removed(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        "short.arch",
        "  stage conv5: bottleneck_v1_projection(512), bottleneck_v1(512) * (depths[3] - 1)\n",
        "",
    )
    result = diff(load(REPO / RESNET50), load(path))
    conv5 = next(stage for stage in result.stages if stage.label == "conv5")
    assert (conv5.status, conv5.blocks.old, conv5.blocks.new) == ("removed", 3, 0)
    back = diff(load(path), load(REPO / RESNET50))
    assert next(stage for stage in back.stages if stage.label == "conv5").status == "added"
    assert [row.section for row in back.costs] == ["stem", "conv2", "conv3", "conv4", "conv5", "head", "total"]


def test_a_layer_input_from_another_stage_is_not_a_change_of_that_stage(keras_50_to_101: ArchDiff) -> None:
    # conv5_block1 now reads conv4_block23_out, not conv4_block6_out: a consequence of conv4 only.
    assert [stage.label for stage in keras_50_to_101.stages] == ["conv4"]


def test_renderings(keras_50_to_101: ArchDiff) -> None:
    text = render_text(keras_50_to_101)
    assert "conv4: 6 -> 23 blocks (+17)" in text
    assert "+ conv4_block7..conv4_block23 (17 blocks): bottleneck_v1(filters=256, kernel=3, stride=1)" in text
    assert "Parameters: 25,636,712 -> 44,707,176 (+19,070,464, +74.39%)" in text
    markdown = render_markdown(keras_50_to_101)
    assert markdown.startswith("### Architecture: ResNet50 → ResNet101\n")
    assert "| section | params old | params new | change | % | MACs old | MACs new | change | % |" in markdown
    assert "| conv4 | 7,129,088 | 26,199,552 | +19,070,464 | +267.50% |" in markdown
    assert "| **total** | **25,636,712** | **44,707,176** | **+19,070,464** | **+74.39%** |" in markdown
    assert (
        "  - added conv4_block7..conv4_block23 (17 blocks): bottleneck_v1(filters=256, kernel=3, stride=1)" in markdown
    )


def test_json_has_stable_keys_and_the_figures(keras_50_to_101: ArchDiff) -> None:
    data = json.loads(render_json(keras_50_to_101))
    assert list(data)[:7] == ["format", "old_name", "new_name", "old_source", "new_source", "changed", "parameters"]
    assert data["format"] == "resnet-dsl-archdiff/1"
    (stage,) = data["stages"]
    assert stage["blocks"] == {"old": 6, "new": 23, "difference": 17, "percent": 283.33}
    assert data["costs"][-1]["params"]["difference"] == 19_070_464


def test_describe_is_line_oriented_and_names_no_file() -> None:
    text = describe(load(REPO / RESNET101))
    assert "stage conv4: 23 blocks -> 14x14x1024 (params 26,199,552, MACs 5,099,487,232)" in text
    assert "  conv4_block23: bottleneck_v1(filters=256, kernel=3, stride=1) -> 14x14x1024" in text
    assert "params 44,707,176 (trainable 44,601,832, non-trainable 105,344)" in text
    assert "keras" not in text and ".arch" not in text
    elsewhere = loads_program((REPO / RESNET101).read_text(), "elsewhere.arch", base=REPO / "specs/keras")
    assert text == describe(elsewhere.expand())


# ------------------------------------------------------------------- CLI --
def test_cli_resnet50_to_101(cli) -> None:
    result = cli("diff", RESNET50, RESNET101)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"ResNet50 ({RESNET50}) -> ResNet101 ({RESNET101})\n")
    assert "conv4: 6 -> 23 blocks (+17)" in result.stdout
    assert "+19,070,464" in result.stdout


def test_cli_formatting_and_comments_only_is_no_change(cli, tmp_path: Path) -> None:
    from resnet_dsl.review.formatter import format_source

    text = (REPO / RESNET50).read_text()
    messy = text.replace("\n  ", "\n      ").replace(", ", ",").replace(" -> ", "->") + "# a comment\n"
    assert format_source(messy) != text
    path = tmp_path / "resnet50.arch"
    path.write_text(messy)
    result = cli("diff", RESNET50, str(path))
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "no architectural change")
    markdown = cli("diff", RESNET50, str(path), "--format", "markdown")
    assert (markdown.returncode, markdown.stdout.strip().splitlines()[-1]) == (0, "No architectural change.")


@pytest.mark.parametrize(("old", "new"), [("specs/nope.arch", RESNET50), (RESNET50, "specs/nope.arch")])
def test_cli_missing_file_exits_2(cli, old: str, new: str) -> None:
    result = cli("diff", old, new)
    assert result.returncode == 2
    assert "error: cannot read specs/nope.arch" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_invalid_spec_exits_2_with_a_located_error(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("network N(input = 8x8x3) {\n  stage a: nope(1)\n}\n")
    result = cli("diff", RESNET50, str(bad))
    assert result.returncode == 2
    assert f"{bad}:2:12: error: unknown block 'nope'" in result.stderr


def test_cli_json_is_deterministic(cli) -> None:
    first = cli("diff", RESNET50, RESNET101, "--format", "json", env={"PYTHONHASHSEED": "1"})
    second = cli("diff", RESNET50, RESNET101, "--format", "json", env={"PYTHONHASHSEED": "2"})
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["stages"][0]["label"] == "conv4"


def test_cli_describe(cli) -> None:
    result = cli("describe", RESNET50)
    assert result.returncode == 0, result.stderr
    assert "stage conv4: 6 blocks -> 14x14x1024" in result.stdout


def test_cli_textconv_never_fails(cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.arch"
    broken.write_text("network N( {\n")
    result = cli("describe", "--textconv", str(broken))
    assert (result.returncode, result.stdout) == (0, "network N( {\n")
    derived = cli("describe", "--textconv", RESNET101)
    assert derived.returncode == 0
    assert derived.stdout.splitlines()[1:] == [
        'import "resnet50.arch"',
        "",
        "network ResNet101 = ResNet50(depths = [3, 4, 23, 3])",
    ]
    assert cli("describe", str(broken)).returncode == 1, "without --textconv an error is an error"


# ------------------------------------------------------------------- git --
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
RESNET_DSL = f'"{sys.executable}" -m resnet_dsl'


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "PYTHONPATH": str(REPO),
        "GIT_PAGER": "cat",
        "TMPDIR": str(repo.parent),
    }
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the keras specs, configured as the README says."""
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    for name in ("resnet50.arch", "resnet101.arch"):
        shutil.copy(SPECS / "keras" / name, root / "specs" / name)
    (root / ".gitattributes").write_text((REPO / ".gitattributes").read_text())
    for args in (
        ("init", "-q"),
        ("config", "user.email", "test@example.com"),
        ("config", "user.name", "test"),
        ("config", "diff.arch.textconv", f"{RESNET_DSL} describe --textconv"),
        ("config", "difftool.arch.cmd", f'{RESNET_DSL} diff "$LOCAL" "$REMOTE"'),
        ("add", "-A"),
        ("commit", "-q", "-m", "specs"),
    ):
        assert _git(root, *args).returncode == 0
    return root


@needs_git
def test_gitattributes_ships_the_arch_driver() -> None:
    assert "*.arch diff=arch" in (REPO / ".gitattributes").read_text().splitlines()


@needs_git
def test_git_diff_shows_architectural_changes(repo: Path) -> None:
    spec = repo / "specs" / "resnet50.arch"
    spec.write_text(spec.read_text().replace("depths = [3, 4, 6, 3]", "depths = [3, 4, 8, 3]"))
    result = _git(repo, "diff")
    assert result.returncode == 0, result.stderr
    assert "-stage conv4: 6 blocks -> 14x14x1024 (params 7,129,088, MACs 1,387,266,048)" in result.stdout
    assert "+stage conv4: 8 blocks -> 14x14x1024 (params 9,372,672, MACs 1,823,997,952)" in result.stdout
    assert "+  conv4_block8: bottleneck_v1(filters=256, kernel=3, stride=1) -> 14x14x1024" in result.stdout
    assert "-params 25,636,712" in result.stdout


@needs_git
def test_git_diff_is_silent_about_layout_and_comments(repo: Path) -> None:
    spec = repo / "specs" / "resnet50.arch"
    spec.write_text("# reformatted\n" + spec.read_text().replace(" -> ", "->").replace("\n  ", "\n    "))
    result = _git(repo, "diff")
    assert result.returncode == 0, result.stderr
    assert "@@" not in result.stdout
    assert _git(repo, "diff", "--no-textconv").stdout.count("@@") > 0, "the text did change"


@needs_git
def test_git_diff_of_a_spec_that_imports_shows_its_canonical_text(repo: Path) -> None:
    spec = repo / "specs" / "resnet101.arch"
    spec.write_text(spec.read_text().replace("23, 3]", "24, 3]"))
    result = _git(repo, "diff")
    assert result.returncode == 0, result.stderr
    assert "-network ResNet101 = ResNet50(depths = [3, 4, 23, 3])" in result.stdout
    assert "+network ResNet101 = ResNet50(depths = [3, 4, 24, 3])" in result.stdout
    assert result.stdout.count("\n-") == result.stdout.count("\n+") == 2, "only that line (and the header)"


@needs_git
def test_git_difftool_runs_resnet_dsl_diff(repo: Path) -> None:
    spec = repo / "specs" / "resnet101.arch"
    spec.write_text(spec.read_text().replace("23, 3]", "24, 3]"))
    result = _git(repo, "difftool", "-y", "-t", "arch")
    assert result.returncode == 0, result.stderr
    assert "conv4: 23 -> 24 blocks (+1)" in result.stdout, "the old copy's import was found beside the new file"
    assert "+ conv4_block24: bottleneck_v1(filters=256, kernel=3, stride=1)" in result.stdout


# ------------------------------------------------------------ start-up --
@pytest.mark.parametrize(
    "args",
    [
        ["fmt", "--check", "specs/torchvision/resnet152.arch"],
        ["diff", "specs/torchvision/resnet101.arch", "specs/torchvision/resnet152.arch"],
        ["graph", "specs/torchvision/resnet152.arch", "-o", "{tmp}/net.dot", "--expand"],
        ["describe", "--textconv", "specs/seed/resnet50.arch"],
    ],
    ids=["fmt", "diff", "graph", "describe"],
)
def test_review_tools_never_import_tensorflow_or_jinja(args: list[str], tmp_path: Path) -> None:
    command = [sys.executable, "-X", "importtime", "-m", "resnet_dsl", *(a.format(tmp=tmp_path) for a in args)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "lark" in imported  # the measurement itself works
    assert not {"tensorflow", "keras", "jinja2", "torch"} & imported


# ------------------------------------------------- what a reviewer reads --
def test_a_stage_whose_input_widened_says_so(tmp_path: Path) -> None:
    # the stem's convolution narrows to 32 filters: conv2 is called the same way, but its
    # first block's convolutions now read 32 channels
    path = _variant(tmp_path, "narrow.arch", "conv(64, 7, stride=2)", "conv(32, 7, stride=2)")
    result = diff(load(REPO / RESNET50), load(path))
    (conv2,) = result.stages
    assert (conv2.label, conv2.status, conv2.runs) == ("conv2", "changed", ())
    assert (conv2.input_shape_old, conv2.input_shape_new) == ((56, 56, 64), (56, 56, 32))
    assert conv2.layers_changed == 2  # conv2_block1_1_conv and conv2_block1_0_conv
    text = render_text(result)
    assert conv2.input_from == "stem"
    assert "  ~ conv2: 3 blocks\n    input: 56x56x64 -> 56x56x32 (from the stem)\n" in text
    assert "    layers: 2 changed, 0 added, 0 removed, since the input changed\n" in text
    assert "block definitions" not in text


def test_renamed_stages_are_renames(tmp_path: Path) -> None:
    text = (REPO / RESNET50).read_text(encoding="utf-8")
    for number in range(2, 6):
        text = text.replace(f"stage conv{number}:", f"stage layer{number - 1}:")
    path = tmp_path / "renamed.arch"
    path.write_text(text, encoding="utf-8")
    result = diff(load(REPO / RESNET50), load(path))
    assert [(s.old_label, s.label, s.status) for s in result.stages] == [
        (f"conv{n}", f"layer{n - 1}", "renamed") for n in range(2, 6)
    ]
    assert [(row.old_section, row.section) for row in result.costs[1:5]] == [
        (f"conv{n}", f"layer{n - 1}") for n in range(2, 6)
    ]
    assert all(row.params.difference == 0 and row.macs.difference == 0 for row in result.costs)
    rendered = render_text(result)
    assert "  ~ conv4 -> layer3: renamed, 6 blocks unchanged (bottleneck_v1_projection, bottleneck_v1 * 5)" in rendered
    assert "+ layer" not in rendered and "- conv" not in rendered
    # a changed stage under a new label is still a removal and an addition (and so is the next
    # stage, whose input changed with it); the stages after them are renamed
    line = next(line for line in text.splitlines() if line.startswith("  stage layer1:"))
    path.write_text(text.replace(line, line.replace("(64", "(32")))
    statuses = [(s.label, s.status) for s in diff(load(REPO / RESNET50), load(path)).stages]
    assert statuses == [
        ("layer1", "added"),
        ("layer2", "added"),
        ("conv2", "removed"),
        ("conv3", "removed"),
        ("layer3", "renamed"),
        ("layer4", "renamed"),
    ]


def test_markdown_uses_one_arrow(keras_50_to_101: ArchDiff, tmp_path: Path) -> None:
    path = _variant(tmp_path, "narrow.arch", "conv(64, 7, stride=2)", "conv(32, 7, stride=2)")
    for result in (keras_50_to_101, diff(load(REPO / RESNET50), load(path))):
        markdown = render_markdown(result)
        outside_fences = markdown.split("```")[::2]
        assert "→" in markdown and not any("->" in part for part in outside_fences)


def test_costs_hold_receptive_field_and_activations(keras_50_to_101: ArchDiff) -> None:
    rows = {row.section: row for row in keras_50_to_101.costs}
    # 17 more bottlenecks at jump 16, each adding (3 - 1) x 16 px
    assert (rows["conv4"].receptive_field.old, rows["conv4"].receptive_field.new) == (291, 291 + 17 * 32)
    assert (rows["total"].receptive_field.old, rows["total"].receptive_field.new) == (483, 483 + 17 * 32)
    assert rows["head"].receptive_field is None  # global pooling: no feature map
    # each identity bottleneck stores conv, bn, relu at 256 channels twice, then conv, bn, add, relu at 1,024
    block_floats = 14 * 14 * (2 * 3 * 256 + 4 * 1024)
    for section in ("conv4", "total"):
        assert rows[section].activations.new - rows[section].activations.old == 4 * 17 * block_floats
    new = load(REPO / RESNET101)
    assert rows["total"].activations.new == 4 * sum(prod(layer.output_shape) for layer in new.layers)
    text = render_text(keras_50_to_101)
    table = text.split("Receptive field (px) and activations (per sample, float32)\n")[1]
    conv4 = next(line.split() for line in table.splitlines() if line.startswith("  conv4 "))
    assert conv4 == ["conv4", "291", "835", "+544", "26.8", "MiB", "98.4", "MiB", "+71.6", "MiB", "+267.14%"]
    assert "Receptive field: 483 -> 1,027 px (+544)" in text
    assert "Activations: 141.6 MiB -> 213.2 MiB per sample (+71.6 MiB, +50.55%)" in text
    data = json.loads(render_json(keras_50_to_101))
    assert data["costs"][-1]["receptive_field"] == {"old": 483, "new": 1027, "difference": 544, "percent": 112.63}


TWO_NETWORKS = """
network Small(input = 32x32x3, classes = 10) {
  stem {
    conv1: conv(16, 3, padding=same) -> bn -> relu
  }
  stage s1: basic(16) * DEPTH
  head {
    global_avgpool -> dense(classes)
  }
}

network Wide(input = 32x32x3, classes = 10) {
  stem {
    conv1: conv(32, 3, padding=same) -> bn -> relu
  }
  stage s1: basic(32) * 2
  head {
    global_avgpool -> dense(classes)
  }
}
"""


def test_cli_network_and_set(cli, tmp_path: Path) -> None:
    old, new = tmp_path / "old.arch", tmp_path / "new.arch"
    old.write_text(TWO_NETWORKS.replace("DEPTH", "2"))
    new.write_text(TWO_NETWORKS.replace("DEPTH", "3"))
    wide = cli("diff", str(old), str(new), "--network", "Wide")
    assert (wide.returncode, wide.stdout.splitlines()[-1]) == (0, "no architectural change")
    small = cli("diff", str(old), str(new), "--network", "Small", "--set", "classes=3")
    assert small.returncode == 1, small.stderr
    assert "s1: 2 -> 3 blocks (+1)" in small.stdout and "dense" not in small.stdout
    # without --network (as git difftool runs it), each network is compared by name
    both = cli("diff", str(old), str(new))
    assert both.returncode == 1, both.stderr
    assert both.stdout.count("no architectural change") == 1 and "s1: 2 -> 3 blocks (+1)" in both.stdout
    data = json.loads(cli("diff", str(old), str(new), "--format", "json").stdout)
    assert [(n["new_name"], n["changed"]) for n in data["networks"]] == [("Small", True), ("Wide", False)]
    new.write_text(TWO_NETWORKS.replace("DEPTH", "2").replace("network Wide", "network Wider"))
    renamed = cli("diff", str(old), str(new))
    assert renamed.returncode == 1
    assert f"network Wide: removed (only in {old})\nnetwork Wider: added (only in {new})" in renamed.stdout
    missing = cli("diff", str(old), str(new), "--network", "Nope")
    assert missing.returncode == 2 and "defines no network 'Nope'" in missing.stderr


def test_cli_describe_each_network_of_a_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "two.arch"
    path.write_text(TWO_NETWORKS.replace("DEPTH", "2"))
    for args in (["describe", str(path)], ["describe", "--textconv", str(path)]):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        assert "network Small\n" in result.stdout and "\n\nnetwork Wide\n" in result.stdout


@needs_git
def test_git_difftool_on_a_file_with_two_networks(repo: Path) -> None:
    spec = repo / "specs" / "two.arch"
    spec.write_text(TWO_NETWORKS.replace("DEPTH", "2"))
    assert _git(repo, "add", "-A").returncode == 0
    assert _git(repo, "commit", "-q", "-m", "two").returncode == 0
    spec.write_text(TWO_NETWORKS.replace("DEPTH", "4"))
    result = _git(repo, "difftool", "-y", "-t", "arch", "--", "specs/two.arch")
    assert result.returncode == 0, result.stderr
    assert "s1: 2 -> 4 blocks (+2)" in result.stdout
