"""One finding per root cause across the import checks, on the reference backend.

Importing a backend runs every module's imports: one broken module makes each of its
importers fail too. Those failures are the same violation seen again; the suite reports the
cause once, where it is, and the importability items name the static finding instead of
repeating it. Missing requirements of the environment are one note, not a finding per module.
"""

from __future__ import annotations

from selftests.trees import reference_repo


def test_one_cause_is_one_finding_however_many_modules_it_breaks(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    repo.write({
        "backend/utils/broken_helper.py": "def helper(:\n    pass\n",
        "backend/utils/boom.py": 'raise RuntimeError("settings missing")\n',
        "backend/utils/prefixed.py": "from backend.services import get_settings\n",
        "backend/services/boom_user_a.py": "import utils.boom\n",
        "backend/services/boom_user_b.py": "from utils import boom\n",
    })
    repo.edit("backend/api/chat.py", '"""\n', '"""\n\nimport utils.broken_helper  # noqa: F401\n', 1)
    repo.commit("three broken modules")
    run = run_suite(repo.root / "backend", "-k", "not contract", part="imports")
    assert run.failed == {"test_python_files_parse", "test_importable[utils]", "test_no_backend_prefix"}, run.output

    boom = run.messages["test_importable[utils]"]
    assert boom.startswith("1 finding:"), boom
    assert ("backend/utils/boom.py:1 raises while being imported: RuntimeError: settings missing; the import of "
            "services.boom_user_a, services.boom_user_b, utils.boom fails because of it") in boom
    assert "fix:  python -c 'import utils.boom' from the backend root shows the full traceback" in boom

    # The syntax error breaks api.chat, main and every module that imports them: named once, as a warning.
    assert "backend/utils/broken_helper.py:1 is reported by test_python_files_parse; the import of api.chat," in run.output
    # The prefix: the suggested import is the one that resolves, and nothing says "install backend".
    prefix = run.messages["test_no_backend_prefix"]
    assert ("backend/utils/prefixed.py:1 `from backend.services import get_settings` imports through the `backend.` "
            "prefix; the backend root is the import root, so this only works when the parent directory is on "
            "sys.path; without the prefix, `from services import get_settings` does not resolve either: name "
            "get_settings not defined in services/__init__.py") in prefix
    assert "fix:  get_settings is defined in core/config.py: from core.config import get_settings" in prefix
    assert "install `backend`" not in run.output and "needs `backend`" not in run.output


def test_declared_requirements_missing_from_the_interpreter_are_one_note(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "repo")
    requirements = repo.root / "backend" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "python-jose==3.3.0\n")
    repo.write({"backend/security/tokens.py": "from jose import jwt\n\n\ndef decode(token: str) -> dict:\n"
                                              "    return jwt.get_unverified_claims(token)\n"})
    repo.commit("tokens with python-jose, not installed here")
    run = run_suite(repo.root / "backend", "-k", "not contract", "-rs", part="imports")
    assert run.failed == set(), run.output
    assert ("importability not fully checked: 1 module(s) not checked (security.tokens): the backend interpreter "
            "lacks 1 declared requirement(s) of backend/requirements.txt (python-jose): run ") in run.output
    assert "-m pip install -r backend/requirements.txt" in run.output
    assert "needs `jose`" not in run.output
