"""sys.path edits through any alias of sys, sys.path, site or site.addsitedir are found; lookalikes are not."""

from __future__ import annotations

import pytest

from conformance.analysis.pysource import parse_source
from selftests.builder import conforming_backend, make_repo
from selftests.test_import_checks import BASE

# file (under backend/services/) -> (source, line of the edit, statement as shown in the finding)
ALIASED_EDITS = {
    "module_alias.py": ("import sys as _sys\n\n_sys.path.insert(0, '/opt/lib')\n", 3, "_sys.path.insert(0, '/opt/lib')"),
    "from_path.py": ("from sys import path\npath.append('/opt/lib')\n", 2, "path.append('/opt/lib')"),
    "from_path_as.py": ("from sys import path as p\np.extend(['/opt/lib'])\n", 2, "p.extend(['/opt/lib'])"),
    "remove.py": ("import sys as s\ns.path.remove('/opt/lib')\n", 2, "s.path.remove('/opt/lib')"),
    "slice.py": ("from sys import path\npath[:0] = ['/opt/lib']\n", 2, "path[:0] = ['/opt/lib']"),
    "item.py": ("import sys as S\nS.path[0] = '/opt/lib'\n", 2, "S.path[0] = '/opt/lib'"),
    "iadd.py": ("from sys import path as p\np += ['/opt/lib']\n", 2, "p += ['/opt/lib']"),
    "replace.py": ("import sys as S\nS.path = ['/opt/lib']\n", 2, "S.path = ['/opt/lib']"),
    "site_alias.py": ("import site as s\ns.addsitedir('/opt/lib')\n", 2, "s.addsitedir('/opt/lib')"),
    "site_from.py": ("from site import addsitedir\naddsitedir('/opt/lib')\n", 2, "addsitedir('/opt/lib')"),
    "site_from_as.py": ("from site import addsitedir as add\nadd('/opt/lib')\n", 2, "add('/opt/lib')"),
    "assigned_alias.py": ("import sys\n\nsearch = sys.path\nsearch.insert(0, '/opt/lib')\n", 4,
                          "search.insert(0, '/opt/lib')"),
    "in_function.py": ("def setup():\n    import sys as system\n    system.path.append('/opt/lib')\n", 3,
                       "system.path.append('/opt/lib')"),
}

# Code that looks like a sys.path edit but is not one: must never be reported.
LOOKALIKES = {
    "local_path.py": "path = []\npath.append('x')\n",
    "os_path.py": "import os\nfrom os import path\n\nfull = os.path.join(path.dirname(__file__), 'x')\n",
    "shadowed.py": "from sys import path\n\n\ndef collect():\n    path = []\n    path.append('x')\n    return path\n",
    "parameter.py": "import sys as s\n\n\ndef add(s):\n    s.path.append('x')\n",
    "rebound.py": "from sys import path\n\npath = ['a', 'b']\n",
    "copied.py": "import sys\n\npath = list(sys.path)\npath.append('x')\n",
    "read_only.py": "import sys as _sys\nfrom sys import path\n\nfirst = _sys.path[0] if path.count('x') else None\n",
}

MESSAGE = ("changes sys.path in production code: imports then depend on who imported this module first")


@pytest.mark.parametrize("name", ALIASED_EDITS)
def test_parse_source_finds_the_aliased_edit(name: str):
    source, line, text = ALIASED_EDITS[name]
    assert parse_source(name, source.encode()).sys_path_edits == [(line, text)]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_parse_source_ignores_lookalikes(name: str):
    assert parse_source(name, LOOKALIKES[name].encode()).sys_path_edits == []


def _files(spec, extra: dict[str, str]) -> dict[str, str | bytes]:
    return {**conforming_backend(spec), **BASE, **{f"backend/services/{k}": v for k, v in extra.items()}}


def test_every_alias_form_is_one_finding(tmp_path, spec, run_suite):
    files = _files(spec, {**{k: v[0] for k, v in ALIASED_EDITS.items()}, **LOOKALIKES})
    make_repo(tmp_path / "repo", files)
    run = run_suite(tmp_path / "repo" / "backend", "-k", "sys_path", part="imports")
    assert run.failed == {"test_no_sys_path_changes"}, run.output
    message = run.messages["test_no_sys_path_changes"]
    assert f"{len(ALIASED_EDITS)} findings:" in message, message
    for name, (_, line, text) in ALIASED_EDITS.items():
        expected = f"backend/services/{name}:{line} `{text}` {MESSAGE}"
        assert expected in message, f"{expected!r} not in:\n{message}"
    assert not any(f"backend/services/{name}" in message for name in LOOKALIKES), message
    assert 'rule: sys_path (phase 3) - "Phase 3.1: Ensure all Python imports use absolute paths from backend root"' \
        in message
    assert ("fix:  remove it and import absolutely from the backend root (run tools as "
            "`python -m scripts.admin.tool` from the backend root)") in message


def test_lookalikes_conform(tmp_path, spec, run_suite):
    make_repo(tmp_path / "repo", _files(spec, LOOKALIKES))
    run = run_suite(tmp_path / "repo" / "backend", "-k", "sys_path", part="imports")
    assert run.failed == set(), run.output
    assert run.outcomes["test_no_sys_path_changes"] == "passed"
