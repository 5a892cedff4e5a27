"""The README's generated sections: the module map (from the package's docstrings), the zoo
table (from `resnet-dsl zoo --markdown`), the summary example (the command's output) and the
test suite's figures (from `tests/suite_figures.json`, written by `scripts/suite_figures.py`).
Each sits between `<!-- NAME -->` and `<!-- /NAME -->`.

    .venv/bin/python scripts/readme_tables.py          # rewrite README.md
    .venv/bin/python scripts/readme_tables.py --check  # exit 1 if README.md is out of date (a test runs this)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PACKAGE = REPO / "resnet_dsl"


def _summary(path: Path) -> str:
    """A module's docstring, first paragraph, as one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|")


def module_map() -> str:
    """One row per wing (bold), then one per module in it."""
    from tests.test_house import WINGS

    rows = ["| module | owns |", "| --- | --- |"]
    for wing in WINGS:
        folder = PACKAGE / wing
        rows.append(f"| **`resnet_dsl/{wing}/`** | **{_summary(folder / '__init__.py')}** |")
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder)
            if relative.name == "__init__.py" and relative.parent == Path("."):
                continue
            rows.append(f"| `{relative.as_posix()}` | {_summary(path)} |")
    return "\n".join(rows)


def zoo_table() -> str:
    from resnet_dsl.cli.commands.zoo import entries, render_markdown

    return render_markdown(entries())


SUMMARY_SPEC = "specs/keras/resnet50.arch"


def summary_output() -> str:
    """`resnet-dsl summary` of keras.applications' ResNet50, as the command prints it."""
    import contextlib
    import io
    import os

    from resnet_dsl.cli.app import main

    out = io.StringIO()
    here = Path.cwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out):
            main(["summary", SUMMARY_SPEC])
    finally:
        os.chdir(here)
    return f"```\n$ resnet-dsl summary {SUMMARY_SPEC}\n{out.getvalue().rstrip()}\n```"


def suite_figures() -> str:
    """The suite's size and duration, as `scripts/suite_figures.py` last measured them."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("suite_figures", REPO / "scripts" / "suite_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sentence(json.loads(module.FIGURES.read_text(encoding="utf-8")))


SECTIONS = {"modules": module_map, "zoo": zoo_table, "summary": summary_output, "suite": suite_figures}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        start, end = f"<!-- {name} -->\n", f"<!-- /{name} -->"
        if start not in text or end not in text:
            raise SystemExit(f"README.md has no {start.strip()} section")
        before, rest = text.split(start, 1)
        text = before + start + make() + "\n" + end + rest.split(end, 1)[1]
    return text


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md is out of date: run python scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
