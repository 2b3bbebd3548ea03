"""The narrow inputs warm runs rest on: the kept sandbox equals a fresh copy whatever the last run's
code did to it, the structure report's disk looks notice a changed disk, and the imports key
changes exactly when what grimp and deptry read changes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from conformance.checks.imports.scan import scan
from conformance.checks.structure import evaluate
from conformance.checks.structure.disk import unchanged
from conformance.model.rules import RuleId
from conformance.model.spec_loader import load_spec
from conformance.repo.content_keys import content_keys
from conformance.repo.index import build_index, index_scopes
from conformance.runtime.sandbox_copy import make_sandbox
from conformance.runtime.sandbox_sync import synced_sandbox
from selftests.builder import conforming_backend, make_repo
from selftests.trees import PROJECT

SPEC = load_spec(PROJECT / "pyproject.toml")


def _listing(root: Path) -> dict[str, object]:
    """Every path under root with what it is: a file's bytes and mode, a link's target."""
    found: dict[str, object] = {}
    for current, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(current, name)
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                found[rel] = ("link", os.readlink(full))
            elif full.is_dir():
                found[rel] = ("dir", stat.S_IMODE(full.stat().st_mode))
            else:
                found[rel] = ("file", full.read_bytes(), stat.S_IMODE(full.stat().st_mode))
    return found


def _index(repo_root: Path):  # noqa: ANN202 - the index type is the library's
    return build_index(repo_root / "backend", index_scopes(SPEC))


def test_kept_sandbox_equals_a_fresh_copy_after_the_last_run_wrote_into_it(tmp_path):
    files = dict(conforming_backend(SPEC))
    files["backend/services/chat.py"] = "VALUE = 1\n"
    files["backend/scripts/run.sh"] = "#!/bin/sh\necho run\n"
    repo = make_repo(tmp_path / "repo", files)
    os.chmod(repo.root / "backend/scripts/run.sh", 0o755)
    os.symlink("../services/chat.py", repo.root / "backend/core/chat_link.py")
    repo.commit("a script and a link")
    base = tmp_path / "cache" / "sandbox"

    def synced() -> Path:
        index = _index(repo.root)
        backend = synced_sandbox(index, content_keys(index).ids, base)
        assert backend is not None
        fresh = make_sandbox(index, tmp_path / f"fresh{len(list(tmp_path.iterdir()))}")
        assert _listing(backend.parent) == _listing(fresh.parent)
        return backend

    backend = synced()
    # what an earlier run's backend code may leave behind: logs, a changed tracked file of the
    # same size, a deleted file, a read-only directory, a link out, a file where a dir belongs
    (backend / "logs").mkdir(exist_ok=True)
    (backend / "logs" / "app.log").write_text("written by the app\n")
    (backend / "services" / "chat.py").write_text("VALUE = 2\n")
    (backend / "core" / "__init__.py").unlink()
    os.symlink("/etc", backend / "etc_link")
    (backend / "data.db").write_bytes(b"sqlite")
    os.chmod(backend / "schemas", 0o500)
    synced()
    # the repository changes: a file moved, one edited, one removed
    repo.mv("backend/services/chat.py", "backend/core/chat.py")
    os.unlink(repo.root / "backend/core/chat_link.py")
    repo.write({"backend/core/chat.py": "VALUE = 3\n"}).commit("moved and edited")
    synced()
    repo.rm("backend/scripts").commit("scripts removed")
    synced()


def test_a_second_run_gets_no_kept_sandbox_while_the_first_holds_it(tmp_path):
    import subprocess
    import sys

    repo = make_repo(tmp_path / "repo", dict(conforming_backend(SPEC)))
    base = tmp_path / "cache" / "sandbox"
    index = _index(repo.root)
    assert synced_sandbox(index, content_keys(index).ids, base) is not None
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path\n"
         "from selftests.test_incremental_inputs import _index\n"
         "from conformance.repo.content_keys import content_keys\n"
         "from conformance.runtime.sandbox_sync import synced_sandbox\n"
         "index = _index(Path(sys.argv[1]))\n"
         "print(synced_sandbox(index, content_keys(index).ids, Path(sys.argv[2])))",
         str(repo.root), str(base)], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "None", other.stderr


def test_a_cached_structure_report_knows_when_the_disk_under_it_changed(tmp_path):
    files = {k: v for k, v in conforming_backend(SPEC).items() if not k.startswith("backend/schemas/")}
    repo = make_repo(tmp_path / "repo", files)
    report = evaluate(SPEC, _index(repo.root))
    missing = report.result(RuleId.REQUIRED_DIR, "schemas").findings
    assert [f.message.split(";")[0] for f in missing] == ["is missing"]
    assert unchanged(repo.root, report.seen)
    (repo.root / "backend" / "schemas").mkdir()  # untracked and empty: git sees nothing
    assert not unchanged(repo.root, report.seen)
    again = evaluate(SPEC, _index(repo.root)).result(RuleId.REQUIRED_DIR, "schemas").findings
    assert again[0].message.startswith("exists on disk but is empty")


def _imports_key(repo_root: Path) -> str:
    from conformance.pytest_plugin.incremental import imports_digest

    return imports_digest(scan(_index(repo_root), SPEC))


def test_the_imports_key_follows_what_grimp_and_deptry_read(tmp_path):
    files = dict(conforming_backend(SPEC))
    files["backend/services/chat.py"] = ("import json\n\nfrom utils import helpers\n\n\ndef reply():\n"
                                         "    return json.dumps(helpers)\n")
    repo = make_repo(tmp_path / "repo", files)
    chat = "backend/services/chat.py"
    keys = [_imports_key(repo.root)]

    def step(old: str, new: str) -> str:
        repo.edit(chat, old, new)
        keys.append(_imports_key(repo.root))
        return keys[-1]

    assert step("return json.dumps(helpers)", "return json.dumps([helpers])") == keys[-2]  # a body only
    assert step("import json\n", "import json\nimport os\n") != keys[-2]  # an import added
    assert step("def reply():\n", "def reply():\n    import yaml\n") != keys[-2]  # a lazy one
    assert step("    import yaml\n", "    importlib.import_module('yaml')\n") != keys[-2]  # dynamic
    assert step("'yaml'", "'toml'") != keys[-2]  # its argument
    assert step("import os\n", "import os  # deptry: ignore[DEP001]\n") != keys[-2]  # a deptry comment
    assert step("from utils import helpers", "from utils import (\n    helpers,\n)") != keys[-2]  # lines moved
    assert step("(\n    helpers,\n)", "(\n    tools,\n)") != keys[-2]  # a name inside a multi-line import


def test_the_scan_key_follows_what_the_scan_reads(tmp_path):
    """Results computed from the scan alone are reused under this key: it must change with a
    tracked module's content and with the repository's other tracked names (where moved modules
    went), and not with an untracked file nobody reads."""
    from conformance.pytest_plugin.incremental import scan_key
    from conformance.pytest_plugin.session import Context

    files = dict(conforming_backend(SPEC))
    files["backend/services/chat.py"] = "VALUE = 1\n"
    repo = make_repo(tmp_path / "repo", files)

    def key() -> str:
        return scan_key(Context(spec=SPEC, backend=repo.root / "backend"))

    first = key()
    (repo.root / "backend" / "services" / ".chat.py.swp").write_bytes(b"editor state")
    assert key() == first
    repo.edit("backend/services/chat.py", "VALUE = 1", "VALUE = 2")
    second = key()
    assert second != first
    repo.write({"libs/chat.py": "VALUE = 2\n"}).git("add", "libs/chat.py")  # staged, outside the backend
    assert key() != second


WARMUP_SCRIPT = """
import sys, time
from pathlib import Path
from selftests.test_incremental_inputs import _index
from conformance.repo.content_keys import content_keys
from conformance.runtime import sandbox_warmup

index = _index(Path(sys.argv[1]))
pid = sandbox_warmup.start(index, content_keys(index).ids, Path(sys.argv[2]))
assert pid is not None, "no fork in a single-threaded process"
if sys.argv[3] == "kill":
    time.sleep(0.01)
    sandbox_warmup.stop(pid)
else:
    sandbox_warmup.finish(pid)
print(pid)
"""


def test_the_warmup_child_leaves_a_copy_the_sync_makes_exact_and_no_process(tmp_path):
    """The forked warm-up is only a head start: finished or killed midway, the tests' own sync
    ends with a copy equal to a fresh one, and the child is reaped either way."""
    import subprocess
    import sys

    files = dict(conforming_backend(SPEC))
    files.update({f"backend/services/m{n}.py": f"VALUE = {n}\n" for n in range(300)})
    repo = make_repo(tmp_path / "repo", files)
    for how in ("finish", "kill"):
        base = tmp_path / how / "sandbox"
        done = subprocess.run([sys.executable, "-c", WARMUP_SCRIPT, str(repo.root), str(base), how], cwd=PROJECT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        pid = int(done.stdout.strip())
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        index = _index(repo.root)
        backend = synced_sandbox(index, content_keys(index).ids, base)
        assert backend is not None
        fresh = make_sandbox(index, tmp_path / f"fresh-{how}")
        assert _listing(backend.parent) == _listing(fresh.parent)
