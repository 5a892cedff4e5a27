"""What each step of the deployment tests costs, spec by spec, in CPU seconds of one thread.

    python bench/deploy_costs.py                                   # every shipped spec
    python bench/deploy_costs.py torchvision/resnet50 timm/seresnet50

For each spec at 64x64, two blocks a stage (as `tests/test_torch_export.py` runs it): building
`to_torch`'s module, generating and building the generated one, `torch.export` of each, `to_onnx`
(the dynamo exporter: decomposition, translation, onnxscript's optimizer, the file), an onnxruntime
session and its two runs, and `torch.compile(fullgraph=True, backend="eager")` of each module.
CPU time of this process, not wall time: on a machine other jobs load, the wall clock says more
about them than about us. The first spec also pays one-off costs (imports, onnxscript's registry);
run a small spec first to see them apart. Printed: one row per spec, the sum, and the ONNX file's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STEPS = ("build", "generate", "export", "export gen", "to_onnx", "ort", "compile", "compile gen")


def cpu_seconds(step: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = step()
    return time.process_time() - start, result


def costs(spec: str, workdir: Path) -> tuple[dict[str, float], int]:
    """Each step's CPU seconds for one spec, and its ONNX file's size in bytes."""
    import onnxruntime
    import torch

    from resnet_dsl.backends.torch import to_torch
    from resnet_dsl.backends.torch_export import INPUT_NAME, example_input, exported, to_onnx
    from resnet_dsl.codegen import to_python
    from tests.test_codegen import import_source
    from tests.torch_deploy import randomize_, small

    kwargs = small(spec)
    seconds: dict[str, float] = {}
    seconds["build"], model = cpu_seconds(lambda: randomize_(to_torch(spec, **kwargs)).eval())
    seconds["generate"], generated = cpu_seconds(
        lambda: import_source(to_python(spec, target="torch", **kwargs)).build_model().eval()
    )
    seconds["export"], program = cpu_seconds(lambda: exported(model, spec, **kwargs))
    seconds["export gen"], _ = cpu_seconds(lambda: exported(generated, spec, **kwargs))
    path = workdir / "model.onnx"
    seconds["to_onnx"], _ = cpu_seconds(lambda: to_onnx(program, path))
    size = path.stat().st_size

    def run_onnxruntime() -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch in (1, 3):
            session.run(None, {INPUT_NAME: example_input(spec, batch=batch, **kwargs).numpy()})

    seconds["ort"], _ = cpu_seconds(run_onnxruntime)
    path.unlink()
    images = example_input(spec, batch=3, **kwargs)

    def compiled(module: Any) -> Callable[[], Any]:
        def step() -> Any:
            torch._dynamo.reset()
            with torch.no_grad():
                return torch.compile(module, fullgraph=True, backend="eager")(images)

        return step

    seconds["compile"], _ = cpu_seconds(compiled(model))
    seconds["compile gen"], _ = cpu_seconds(compiled(generated))
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", help="zoo names (default: every shipped spec)")
    args = parser.parse_args()
    import torch

    from tests.torch_deploy import ZOO

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    specs = args.specs or ZOO
    print(f"{'spec':36}" + "".join(f"{step:>12}" for step in STEPS) + f"{'total':>9}{'onnx MB':>9}")
    totals = dict.fromkeys(STEPS, 0.0)
    with tempfile.TemporaryDirectory() as workdir:
        for spec in specs:
            seconds, size = costs(spec, Path(workdir))
            for step in STEPS:
                totals[step] += seconds[step]
            row = "".join(f"{seconds[step]:12.1f}" for step in STEPS)
            print(f"{spec:36}{row}{sum(seconds.values()):9.1f}{size / 1e6:9.0f}", flush=True)
    row = "".join(f"{totals[step]:12.1f}" for step in STEPS)
    print(f"{'all ' + str(len(specs)) + ' specs':36}{row}{sum(totals.values()):9.1f}")


if __name__ == "__main__":
    main()
