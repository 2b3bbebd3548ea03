"""The declared-dependency check (deptry) on real trees: dev requirements, an interpreter that lacks
declared requirements, and items that could examine nothing.

The suite's own interpreter is the backend interpreter here: it has fastapi, sqlalchemy, pydantic
and pytest, but not python-jose, PyYAML or faker. Most cases call check_dependencies directly;
one runs tests/imports in-process to prove the glue.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from conformance.checks.imports.dependencies import DependencyReport, check_dependencies, might_provide
from conformance.runtime.interpreter import InterpreterInfo, probe
from conformance.model.spec import Spec, SpecError
from conformance.model.spec_loader import load_spec
from selftests.builder import conforming_backend, make_repo
from selftests.test_import_checks import BASE

PYTHON = sys.executable
ENVIRONMENT = "the backend interpreter {python} does not have installed"


@pytest.fixture(scope="session")
def info() -> InterpreterInfo:
    return probe(PYTHON, [])


def check(tmp_path: Path, spec: Spec, info: InterpreterInfo, files: dict[str, str],
          **imports: object) -> DependencyReport:
    """check_dependencies on a committed tree; `imports` overrides keys of the spec's imports table."""
    make_repo(tmp_path / "repo", files)
    backend = tmp_path / "repo" / "backend"
    first_party = {path.stem for path in backend.iterdir() if path.is_dir() or path.suffix == ".py"}
    spec = dataclasses.replace(spec, imports=dataclasses.replace(spec.imports, **imports))
    return check_dependencies(backend, spec, info, first_party, lambda rel: f"backend/{rel}")


def lines(report: DependencyReport, test_id: str) -> list[str]:
    return [f"{f.location} {f.message}" for f in report.result(test_id).findings]


# -- dev requirements ------------------------------------------------------------------------------

DEV_TREE = {
    "backend/requirements.txt": "fastapi\n",
    "backend/services/x.py": "import fastapi\nimport pytest\nfrom faker import Faker\n",
    "backend/tests/test_x.py": "import pytest\nimport faker\nimport yaml  # excluded: not reported\n",
    "backend/scripts/seed.py": "import fastapi\nimport faker\n",  # non-production: dev requirements allowed
}
DEV_IN_PRODUCTION = [
    "backend/services/x.py:2 'pytest' imported but declared as a dev dependency [DEP004]",
    "backend/services/x.py:3 'faker' imported but declared as a dev dependency [DEP004]",
]


@pytest.mark.parametrize("dev_file", ["requirements-dev.txt", "dev-requirements.txt", "requirements/test.txt"])
def test_dev_requirement_in_production_code_fails(dev_file, tmp_path, spec, info):
    include = "../requirements.txt" if "/" in dev_file else "requirements.txt"
    report = check(tmp_path, spec, info, {**DEV_TREE, f"backend/{dev_file}": f"-r {include}\npytest\nfaker\n"})
    assert lines(report, "dev-in-production") == DEV_IN_PRODUCTION
    assert report.result("dev-in-production").findings[0].fix == \
        "move it from the dev requirements to backend/requirements.txt if production code needs it; otherwise " \
        "import it only from tests or scripts"
    assert lines(report, "missing") == [  # faker is not installed: the one warning, no false finding
        f"backend/{dev_file} lists 1 of 2 requirements (faker) that {ENVIRONMENT.format(python=PYTHON)}; "
        "without their metadata their import names are unknown, so imports they may provide are not reported "
        "as missing, nor they as unused"]
    assert report.environment is not None and report.environment.severity == "warning"


def test_include_that_does_not_exist_is_a_finding_and_the_rest_is_checked(tmp_path, spec, info):
    files = {**DEV_TREE, "backend/requirements/dev.txt": "-r requirements.txt  # wrong: relative to requirements/\n"
                                                         "pytest\nfaker\n"}
    report = check(tmp_path, spec, info, files)
    assert [f.render().splitlines()[::2] for f in report.result("missing").findings if f.severity == "error"] == [[
        "backend/requirements/dev.txt:1 includes `requirements.txt`, which does not exist "
        "(requirements/requirements.txt in the backend): pip install -r backend/requirements/dev.txt fails",
        "  fix:  correct the path (relative to backend/requirements/) or remove the line"]]
    assert lines(report, "dev-in-production") == DEV_IN_PRODUCTION


def test_dev_requirements_named_by_the_spec(tmp_path, spec, info):
    files = {**DEV_TREE, "backend/ci/dev.txt": "pytest\nfaker\n", "backend/requirements-dev.txt": "nothing-here\n"}
    report = check(tmp_path, spec, info, files, dev_requirements=("ci/dev.txt",))
    assert lines(report, "dev-in-production") == DEV_IN_PRODUCTION


def test_dev_requirements_named_but_absent_fails(tmp_path, spec, info):
    report = check(tmp_path, spec, info, DEV_TREE, dev_requirements=("ci/dev.txt",))
    [finding] = report.result("dev-in-production").findings
    assert finding.render().splitlines()[0::2] == [
        "backend/ci/dev.txt is named by imports.dev_requirements in pyproject.toml but is not in the backend",
        f"  fix:  create backend/ci/dev.txt with the dev-only requirements, or correct imports.dev_requirements in "
        f"{spec.source}"]


def test_dev_import_in_tests_passes_and_without_dev_file_the_item_skips(tmp_path, spec, info):
    files = {"backend/requirements.txt": "fastapi\n", "backend/main.py": "import fastapi\n",
             "backend/tests/test_main.py": "import pytest\n"}
    report = check(tmp_path, spec, info, {**files, "backend/requirements-dev.txt": "pytest\n"})
    assert report.result("dev-in-production").findings == [] and report.result("dev-in-production").skipped is None
    report = check(tmp_path / "without", spec, info, files)
    assert report.result("dev-in-production").skipped.reason.startswith(
        "no dev requirements file in the backend (looked for requirements-dev.txt, dev-requirements.txt, ")


# -- requirements the backend interpreter lacks ---------------------------------------------------

def test_uninstalled_requirement_gives_one_warning_and_real_findings(tmp_path, spec, info):
    files = {"backend/requirements.txt": "python-jose[cryptography]==3.3.0\nfastapi\n",
             "backend/services/auth.py": "from jose import jwt\nimport fastapi\nimport flask\n"}
    report = check(tmp_path, spec, info, files)
    assert report.skipped is None
    assert lines(report, "missing") == [
        "backend/services/auth.py:3 'flask' imported but missing from the dependency definitions [DEP001]",
        f"backend/requirements.txt lists 1 of 2 requirements (python-jose) that {ENVIRONMENT.format(python=PYTHON)}; "
        "without their metadata their import names are unknown, so imports they may provide are not reported "
        "as missing, nor they as unused"]
    assert report.environment.fix == (f"{PYTHON} -m pip install -r backend/requirements.txt   "
                                      "# or run with --backend-python=<the backend's own python>")
    assert [f for f in report.result("missing").findings if f.severity == "error"][0].fix == \
        "add the distribution that provides it to backend/requirements.txt"
    for test_id in ("unused", "transitive", "dev-in-production", "stdlib-declared"):
        assert report.findings[test_id] == [], test_id


def test_uninstalled_requirement_in_an_included_file(tmp_path, spec, info):
    files = {"backend/requirements.txt": "-r requirements/base.txt\n", "backend/requirements/base.txt": "python-jose\n",
             "backend/services/auth.py": "from jose import jwt\n"}
    report = check(tmp_path, spec, info, files)
    assert lines(report, "missing") == [
        f"backend/requirements.txt lists 1 of 1 requirement (python-jose) that {ENVIRONMENT.format(python=PYTHON)}; "
        "without their metadata their import names are unknown, so imports they may provide are not reported "
        "as missing, nor they as unused"]
    assert lines(report, "unused") == []


def test_uninstalled_requirement_that_nothing_imports_is_still_unused_when_nothing_unknown(tmp_path, spec, info):
    """No unattributed import could come from python-jose: deptry's "unused" stands."""
    files = {"backend/requirements.txt": "python-jose\nfastapi\n", "backend/main.py": "import fastapi\n"}
    report = check(tmp_path, spec, info, files)
    assert lines(report, "unused") == [
        "backend/requirements.txt 'python-jose' defined as a dependency but not used in the codebase [DEP002]"]


def test_everything_installed_and_declared_passes_without_warning(tmp_path, spec, info):
    files = {"backend/requirements.txt": "fastapi\nSQLAlchemy\npydantic\n",
             "backend/requirements-dev.txt": "pytest\n",
             "backend/main.py": "import fastapi\nimport sqlalchemy\nfrom pydantic import BaseModel\n",
             "backend/tests/test_main.py": "import pytest\n"}
    report = check(tmp_path, spec, info, files)
    assert report.environment is None and report.skipped is None and report.skipped_rules == {}
    assert {test_id: report.result(test_id).findings for test_id in report.findings} == \
        {test_id: [] for test_id in report.findings}


@pytest.mark.parametrize(("distribution", "module", "expected"), [
    ("python-jose", "jose", True), ("PyJWT", "jwt", True), ("PyYAML", "yaml", True),
    ("python-dotenv", "dotenv", True), ("beautifulsoup4", "bs4", True), ("Pillow", "PIL", True),
    ("scikit-learn", "sklearn", True), ("opencv-python-headless", "cv2", True), ("PyMuPDF", "fitz", True),
    ("python-jose", "yaml", False), ("flask", "fastapi", False),
])
def test_might_provide(distribution, module, expected):
    assert might_provide(distribution, module) is expected


# -- items that could examine nothing --------------------------------------------------------------

def test_no_python_file_skips_the_import_items(tmp_path, spec, info):
    report = check(tmp_path, spec, info, {"backend/requirements.txt": "fastapi\n", "backend/README.md": "x\n"})
    reasons = {test_id: report.result(test_id).skipped for test_id in report.findings}
    for test_id in ("missing", "unused", "transitive", "dev-in-production"):
        assert reasons[test_id].reason == "no Python file in the backend: no import to compare with requirements.txt"
    assert reasons["stdlib-declared"] is None


def test_only_excluded_python_files_skip_with_the_exclude_list(tmp_path, spec, info):
    report = check(tmp_path, spec, info, {"backend/requirements.txt": "fastapi\n",
                                          "backend/tests/test_a.py": "import undeclared_thing\n"})
    assert report.result("missing").skipped.reason == (
        "every Python file of the backend is excluded (imports.dependency_exclude: tests/, **/tests/, "
        "**/conftest.py, workers/): no import to compare with requirements.txt")


# -- the spec key ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ('"requirements-dev.txt"', ("requirements-dev.txt",)),
    ('["requirements/dev.txt", "./requirements/test.txt"]', ("requirements/dev.txt", "requirements/test.txt")),
    ("[]", ()),
])
def test_dev_requirements_key(tmp_path, value, expected):
    path = tmp_path / "spec.toml"
    path.write_text(f"[imports]\ndev_requirements = {value}\n")
    assert load_spec(path).imports.dev_requirements == expected


@pytest.mark.parametrize(("text", "message"), [
    ("dev_requirement = []", '[imports] unknown key "dev_requirement" (did you mean "dev_requirements"?)'),
    ("dev_requirements = 3", "[imports.dev_requirements] must be an array or a string, got an integer"),
    ('dev_requirements = ["../dev.txt"]', '[imports.dev_requirements] "../dev.txt" escapes the backend root'),
    ('dev_requirements = "//dev.txt"', '[imports.dev_requirements] "//dev.txt" must be inside the backend'),
    ('dev_requirements = "requirements.txt"', '[imports.dev_requirements] "requirements.txt" is imports.requirements '
                                              "itself"),
])
def test_dev_requirements_key_errors(tmp_path, text, message):
    path = tmp_path / "spec.toml"
    path.write_text(f"[imports]\n{text}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert message in str(caught.value)


# -- through the suite ----------------------------------------------------------------------------

def test_suite_reports_dev_in_production_and_missing_with_one_environment_warning(tmp_path, spec, run_suite):
    files = {**conforming_backend(spec), **BASE,
             "backend/requirements.txt": "fastapi\nsqlalchemy\nalembic\npython-jose\n",
             "backend/requirements-dev.txt": "pytest\n",
             "backend/core/tokens.py": "from jose import jwt\nimport pytest\nimport flask\n"}
    make_repo(tmp_path / "repo", files)
    run = run_suite(tmp_path / "repo" / "backend", "-k", "dependencies", part="imports")
    assert run.failed == {"test_dependencies_declared[missing]", "test_dependencies_declared[dev-in-production]"}, \
        run.output
    assert "backend/core/tokens.py:3 'flask' imported but missing" in run.messages["test_dependencies_declared[missing]"]
    assert "jose" not in run.messages["test_dependencies_declared[missing]"]
    assert "backend/core/tokens.py:2 'pytest' imported but declared as a dev dependency [DEP004]" in \
        run.messages["test_dependencies_declared[dev-in-production]"]
    assert run.outcomes["test_dependencies_declared[unused]"] == "passed", run.output
    assert run.output.count(f"lists 1 of 4 requirements (python-jose) that {ENVIRONMENT.format(python=PYTHON)}") == 1
    assert f"{PYTHON} -m pip install -r backend/requirements.txt" in run.output


def test_an_import_a_selected_contract_forbids_is_the_contracts_finding_alone(tmp_path, spec, run_suite):
    """`import pytest` in production: the test-code contract reports it (remove the import);
    deptry's dev-in-production item leaves it out when that contract runs too, and would advise
    moving pytest into the production requirements, the opposite fix."""
    files = {**conforming_backend(spec), **BASE,
             "backend/requirements.txt": "fastapi\nsqlalchemy\nalembic\n",
             "backend/requirements-dev.txt": "pytest\n",
             "backend/core/tokens.py": "import pytest\nimport flask\n"}
    make_repo(tmp_path / "repo", files)
    run = run_suite(tmp_path / "repo" / "backend", "-k", "dependencies or test_contract", part="imports")
    assert run.failed == {"test_dependencies_declared[missing]",
                          "test_contract[no-test-or-debug-code-in-production]"}, run.output
    assert run.outcomes["test_dependencies_declared[dev-in-production]"] == "passed", run.output
    contract = run.messages["test_contract[no-test-or-debug-code-in-production]"]
    assert contract.startswith("1 finding:\n\nbackend/core/tokens.py:1 breaks contract"), contract
    assert "fix: core/tokens.py:1: remove the import of pytest (core may not import pytest)" in contract
    assert "'flask' imported but missing" in run.messages["test_dependencies_declared[missing]"]


def test_undeclared_imports_are_judged_by_the_backend_interpreters_packages(tmp_path, spec, info):
    """deptry runs under the suite's interpreter: pluggy is installed there (pytest needs it), so
    deptry calls it transitive; a backend venv without it makes it missing. And the other way
    round: a package only the backend's venv has, as another package's dependency, is transitive."""
    assert info.distributions.get("pluggy") and not info.distributions.get("zz_backend_only")
    backend_info = dataclasses.replace(info, distributions={
        **{name: dists for name, dists in info.distributions.items() if name != "pluggy"},
        "zz_backend_only": ["zz-backend-only"]})
    files = {"backend/requirements.txt": "fastapi\n",
             "backend/services/x.py": "import fastapi\nimport pluggy\nimport zz_backend_only\n"}
    report = check(tmp_path, spec, backend_info, files)
    assert lines(report, "missing") == [
        "backend/services/x.py:2 'pluggy' imported but missing from the dependency definitions [DEP001]"]
    assert lines(report, "transitive") == [
        "backend/services/x.py:3 'zz_backend_only' imported but it is a transitive dependency [DEP003]"]
    assert report.result("transitive").findings[0].fix == (
        "declare it in backend/requirements.txt: it is only installed as a dependency of another package")
    # the same tree judged by the suite's own packages, as deptry alone would
    report = check(tmp_path / "suite-env", spec, info, files)
    assert lines(report, "transitive") == [
        "backend/services/x.py:2 'pluggy' imported but it is a transitive dependency [DEP003]"]
    assert lines(report, "missing") == [
        "backend/services/x.py:3 'zz_backend_only' imported but missing from the dependency definitions [DEP001]"]
