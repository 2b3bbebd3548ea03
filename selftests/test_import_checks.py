"""The static import checks on trees that violate exactly one rule, run through tests/imports."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from selftests.builder import conforming_backend, make_repo

BASE = {
    "backend/requirements.txt": "fastapi\nsqlalchemy\nalembic\n",
    "backend/main.py": "from fastapi import FastAPI\n\nfrom api.routes import router\n\napp = FastAPI()\n",
    "backend/api/routes.py": "from services.users import find_user\n\nrouter = object()\n",
    "backend/services/users.py": (
        "from database import models\n\n\ndef find_user(user_id):\n"
        "    from database.session import get_session\n    return get_session(), models.User\n"),
    "backend/database/__init__.py": "from database.models import User\n\n__all__ = ['User']\n",
    "backend/database/models.py": "class User:\n    pass\n",
    "backend/database/session.py": "def get_session():\n    return None\n",
    "backend/core/auth.py": "def verify(token):\n    return bool(token)\n",
    "backend/monitoring/health.py": "def get_db_stats():\n    return {}\n",
    "backend/alembic/env.py": "from alembic import context\n",
    "backend/alembic/versions/0001_init.py": "from alembic import op\nimport sqlalchemy as sa\n",
    "backend/scripts/admin/create_admin.py": (
        "import sys\nfrom pathlib import Path\n\nsys.path.insert(0, str(Path(__file__).parents[2]))\n"),
}


@dataclass
class Case:
    files: dict[str, str | bytes]
    failing: str
    fragments: list[str]


CASES = {
    "lazy import of a moved module": Case(
        {"backend/services/billing.py": "def charge(token):\n    from database.auth import verify\n    return verify(token)\n"},
        "test_imports_resolve[services]",
        ["backend/services/billing.py:2 `from database.auth import verify` (lazy: inside a function, so no "
         "import-time check runs it): no module database/auth.py (nor package database/auth/) in the backend; "
         "database.auth now lives at backend/core/auth.py (the only module of that name)",
         "fix:  from core.auth import verify"]),
    "name removed from a package __init__": Case(
        {"backend/api/stats.py": "from database import User, get_db_stats\n"},
        "test_imports_resolve[api]",
        ["backend/api/stats.py:1 `from database import User, get_db_stats`: name get_db_stats not defined in "
         "database/__init__.py",
         "fix:  get_db_stats is defined in monitoring/health.py: from monitoring.health import get_db_stats"]),
    "import under TYPE_CHECKING": Case(
        {"backend/api/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from schemas.user import UserOut\n"},
        "test_imports_resolve[api]",
        ["backend/api/typed.py:3 `from schemas.user import UserOut` (under TYPE_CHECKING): no module schemas/user.py (nor package schemas/user/)"]),
    "root module importing a gone module": Case(
        {"backend/main.py": "from database import get_db\n"},
        "test_imports_resolve[root]",
        ["backend/main.py:1 `from database import get_db`: name get_db not defined in database/__init__.py"]),
    "backend-prefixed import": Case(
        {"backend/api/admin.py": "from backend.database.models import User\n"},
        "test_no_backend_prefix",
        ["backend/api/admin.py:1 `from backend.database.models import User` imports through the `backend.` prefix",
         "fix:  from database.models import User"]),
    "three-dot relative import": Case(
        {"backend/api/v1/__init__.py": "", "backend/api/v1/deep/__init__.py": "",
         "backend/api/v1/deep/users.py": "from ...routes import router\n"},
        "test_relative_import_depth",
        ["backend/api/v1/deep/users.py:1 `from ...routes import router` goes 3 levels up; the plan allows at most 2",
         "fix:  from api.routes import router"]),
    "missing __init__.py in a subpackage": Case(
        {"backend/api/v2/routes.py": "router = None\n"},
        "test_init_files",
        ["backend/api/v2/ holds Python files but no __init__.py",
         "fix:  touch backend/api/v2/__init__.py && git add backend/api/v2/__init__.py"]),
    "sys.path hack in production": Case(
        {"backend/services/legacy.py": "import os, sys\nsys.path.append(os.path.dirname(__file__))\n"},
        "test_no_sys_path_changes",
        ["backend/services/legacy.py:2 `sys.path.append(os.path.dirname(__file__))` changes sys.path in production"]),
    "syntax error": Case(
        {"backend/services/broken.py": "def broken(:\n    pass\n"},
        "test_python_files_parse",
        ["backend/services/broken.py:1 has a syntax error"]),
    "invalid utf-8": Case(
        {"backend/utils/latin.py": b"# caf\xe9\nname = 'x'\n"},
        "test_python_files_parse",
        ["backend/utils/latin.py:1 is not valid UTF-8 (byte 0xe9); Python refuses to import it"]),
    "NUL bytes": Case(
        {"backend/utils/nul.py": b"x = 1\ny = 2\x00\n"},
        "test_python_files_parse",
        ["backend/utils/nul.py:2 contains NUL bytes; Python refuses to import it"]),
    "module shadowing the standard library": Case(
        {"backend/logging.py": "LEVEL = 1\n"},
        "test_no_shadowed_modules",
        ["backend/logging.py shadows the standard library module `logging`"]),
    "undeclared third-party import": Case(
        {"backend/integrations/payments.py": "import stripe_sdk_not_declared\n"},
        "test_dependencies_declared[missing]",
        ["backend/integrations/payments.py:1 'stripe_sdk_not_declared' imported but missing from the dependency "
         "definitions [DEP001]"]),
}


@pytest.fixture
def backend_files(spec) -> dict[str, str | bytes]:
    return {**conforming_backend(spec), **BASE}


def test_clean_tree_passes_every_import_check(tmp_path, backend_files, run_suite):
    make_repo(tmp_path / "repo", backend_files)
    run = run_suite(tmp_path / "repo" / "backend", part="imports")
    assert run.failed == set(), run.output
    assert run.outcomes["test_imports_resolve[alembic]"] == "passed"  # alembic/ never shadows the library


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_single_violation(case: Case, tmp_path, backend_files, run_suite):
    make_repo(tmp_path / "repo", {**backend_files, **case.files})
    run = run_suite(tmp_path / "repo" / "backend", part="imports")
    assert run.failed == {case.failing}, run.output
    for fragment in case.fragments:
        assert fragment in run.messages[case.failing], f"{fragment!r} not in:\n{run.messages[case.failing]}"


def test_module_raising_at_import_fails_importability(tmp_path, backend_files, run_suite):
    files = {**backend_files, "backend/services/boom.py": "raise RuntimeError('settings missing')\n"}
    make_repo(tmp_path / "repo", files)
    run = run_suite(tmp_path / "repo" / "backend", part="imports")
    assert run.failed == {"test_importable[services]"}, run.output
    assert "backend/services/boom.py:1 raises while being imported: RuntimeError: settings missing" \
        in run.messages["test_importable[services]"]


def test_guarded_import_is_a_warning(tmp_path, backend_files, run_suite):
    guarded = "try:\n    from cache.redis_backend import RedisCache\nexcept ImportError:\n    RedisCache = None\n"
    make_repo(tmp_path / "repo", {**backend_files, "backend/cache/__init__.py": guarded})
    run = run_suite(tmp_path / "repo" / "backend", "-W", "always", part="imports")
    assert run.failed == set(), run.output
    assert "it sits in try/except ImportError, so the code silently takes the fallback" in run.output


def test_star_import_and_module_getattr_cannot_tell(tmp_path, backend_files, run_suite):
    files = {**backend_files,
             "backend/utils/__init__.py": "from utils.text import *\n",
             "backend/utils/text.py": "def slug(x):\n    return x\n",
             "backend/schemas/__init__.py": "def __getattr__(name):\n    return name\n",
             "backend/api/uses.py": "from utils import slug\nfrom schemas import UserOut\n"}
    make_repo(tmp_path / "repo", files)
    assert run_suite(tmp_path / "repo" / "backend", part="imports").failed == set()


def test_reference_passes_every_import_check(tmp_path, run_suite):
    from selftests.trees import reference_repo

    repo = reference_repo(tmp_path / "chatai")
    run = run_suite(repo.root / "backend", part="imports")
    assert run.failed == set(), run.output
    assert {"test_contract[layers]", "test_importable[api]", "test_imports_resolve[services]"} <= \
        run.with_outcome("passed")


def test_layer_violation_fails_exactly_its_contract(tmp_path, run_suite):
    from selftests.trees import reference_repo

    repo = reference_repo(tmp_path / "chatai")
    crud = repo.root / "backend/database/crud.py"
    crud.write_text("from api import chat  # noqa: F401\n" + crud.read_text())
    repo.commit("database reaches up into api")
    run = run_suite(repo.root / "backend", part="imports")
    assert run.failed == {"test_contract[layers]"}, run.output
    message = run.messages["test_contract[layers]"]
    assert "database.crud -> api.chat (l.1)" in message
    assert "fix: database/crud.py:1" in message
    # The finding stands where the first broken import is, not at the contracts file.
    assert message.startswith("1 finding:\n\nbackend/database/crud.py:1 breaks contract 'layers' (Layers: ")


def _alias_spec(tmp_path, backend) -> str:
    from selftests.trees import PROJECT

    text = (PROJECT / "src/conformance/data/conformance.toml").read_text()
    text = text.replace('backend = "backend"', f'backend = "{backend}"', 1)
    text += '\n[[aliases]]\nold = "database.auth"\nnew = "core.auth"\nretire_phase = 3\n'
    config = tmp_path / "spec.toml"
    config.write_text(text)
    return f"--conformance-config={config}"


SHIM = "import warnings\n\nfrom core.auth import verify\n\nwarnings.warn('use core.auth', DeprecationWarning)\n"


@pytest.mark.parametrize(("phase", "shim", "failing", "fragment"), [
    ("2", True, None, "is a transitional alias of core.auth, to be retired in phase 3; 1 import(s) still use it: "
                      "backend/api/login.py:1"),
    ("2", False, "test_transitional_alias[database.auth]",
     "backend/database/auth.py is gone, so `import database.auth` breaks before phase 3 retires it"),
    ("4", True, "test_transitional_alias[database.auth]",
     "backend/database/auth.py still exists although phase 3 retires the alias database.auth -> core.auth; "
     "imported at backend/api/login.py:1"),
    ("4", False, None, None),
])
def test_transitional_alias_follows_the_enforced_phase(phase, shim, failing, fragment, tmp_path, backend_files,
                                                       run_suite):
    files = dict(backend_files)
    if shim:
        files["backend/database/auth.py"] = SHIM
        files["backend/api/login.py"] = "from database.auth import verify\n"
    make_repo(tmp_path / "repo", files)
    run = run_suite(None, _alias_spec(tmp_path, tmp_path / "repo" / "backend"), "--phase", phase, "-W", "always",
                    "-k", "alias", part="imports")
    assert run.failed == ({failing} if failing else set()), run.output
    if fragment:
        assert fragment in (run.messages.get(failing, "") if failing else run.output)
