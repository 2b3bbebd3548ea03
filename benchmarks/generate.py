"""Generate a conforming backend of N modules with a realistic import mix, as a git repo.

Modules are spread over the plan's packages and import only downwards through the layers of
.importlinter (module-level and lazy, absolute from the backend root), plus stdlib and the
reference's third-party libraries, so every check has real work and nothing fails.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))  # selftests.builder writes the committed tree
LAYERS = [["api"], ["services"], ["ai", "integrations", "monitoring"], ["cache"], ["database"], ["schemas"],
          ["validators"], ["core", "security", "templates", "utils"]]
THIRD_PARTY = ["fastapi", "sqlalchemy", "pydantic"]


def generate_backend(root: Path, modules: int, seed: int = 7) -> Path:
    """Write the repo under `root`; return its backend dir. `modules` counts generated .py files."""
    from conformance.model.spec_loader import load_spec
    from selftests.builder import conforming_backend, make_repo

    rng = random.Random(seed)
    spec = load_spec(PROJECT / "pyproject.toml")
    files: dict[str, str] = dict(conforming_backend(spec))
    files["backend/requirements.txt"] = "fastapi\nsqlalchemy\npydantic\n"
    files["backend/main.py"] = "from fastapi import FastAPI\n\napp = FastAPI()\n"
    packages = [p for layer in LAYERS for p in layer]
    per_package: dict[str, list[str]] = {p: [] for p in packages}
    for number in range(modules):
        package = packages[number % len(packages)]
        sub = f"sub{number % 5}" if number % 3 == 0 else ""
        module = f"{package}.{sub + '.' if sub else ''}m{number}"
        per_package[package].append(module)
        if sub:
            files[f"backend/{package}/{sub}/__init__.py"] = ""
    for layer_index, layer in enumerate(LAYERS):
        lower = [m for deeper in LAYERS[layer_index + 1:] for p in deeper for m in per_package[p]]
        for package in layer:
            for module in per_package[package]:
                files[f"backend/{module.replace('.', '/')}.py"] = _module_source(module, lower, rng)
    make_repo(root, files, message="generated backend")
    shutil.copy(PROJECT / ".importlinter", root / ".importlinter")
    return root / "backend"


def _module_source(module: str, lower: list[str], rng: random.Random) -> str:
    name = module.rsplit(".", 1)[-1]
    lines = [f'"""Generated module {module}."""', "", "from __future__ import annotations", "",
             "import json", "import logging", f"import {rng.choice(THIRD_PARTY)}"]
    picks = rng.sample(lower, min(3, len(lower)))
    for other in picks[:2]:
        lines.append(f"from {other} import func_{other.rsplit('.', 1)[-1]}")
    lines += ["", "log = logging.getLogger(__name__)", "", "",
              f"def func_{name}(value: object) -> str:"]
    if len(picks) > 2:
        lazy = picks[2]
        lines.append(f"    from {lazy} import func_{lazy.rsplit('.', 1)[-1]}")
    lines += ["    return json.dumps(str(value))", "", "",
              f"class Model{name.title()}:", "    size = 1", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1])
    print(generate_backend(target, int(sys.argv[2]) if len(sys.argv) > 2 else 100))
