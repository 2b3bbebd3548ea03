"""The catalogue of structure rules: the plan line each one enforces and its default phase.

The phase of every rule can be changed in the spec; the plan text is what a failure quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from conformance.model.findings import Finding, Severity

SUCCESS_CRITERIA = (
    "All imports work correctly",
    "FastAPI server starts without errors",
    "Telegram bots function properly",
    "Database migrations work",
    "Production deployment unchanged",
    "Clear documentation of new structure",
)


class RuleId(StrEnum):
    """Every rule's identity: code names a rule by this, never by a string."""

    REQUIRED_DIR = "required_dir"
    PACKAGE_DIR = "package_dir"
    MOVE = "move"
    MOVE_HISTORY = "move_history"
    ROOT_FILES = "root_files"
    ROOT_FILE_COUNT = "root_file_count"
    ROOT_DIRS = "root_dirs"
    FORBIDDEN = "forbidden"
    NODE_ONLY_IN_WORKERS = "node_only_in_workers"
    NO_PYTHON_IN_WORKERS = "no_python_in_workers"
    RUNTIME_IGNORED = "runtime_ignored"
    RUNTIME_UNTRACKED = "runtime_untracked"
    TRACKED_BUT_IGNORED = "tracked_but_ignored"
    MODULE_PACKAGE_CLASH = "module_package_clash"
    PYTHON_PARSES = "python_parses"
    IMPORTS_RESOLVE = "imports_resolve"
    BACKEND_PREFIX = "backend_prefix"
    RELATIVE_DEPTH = "relative_depth"
    SYS_PATH = "sys_path"
    INIT_FILES = "init_files"
    NAME_CLASH = "name_clash"
    DEPENDENCIES = "dependencies"
    IMPORTABLE = "importable"
    ENTRY_POINT = "entry_point"
    CONTRACT = "contract"
    ALIAS = "alias"
    APP_BOOTS = "app_boots"
    MIGRATIONS_SINGLE_HEAD = "migrations_single_head"
    MIGRATIONS_ROUNDTRIP = "migrations_roundtrip"
    MIGRATIONS_DRIFT = "migrations_drift"
    WORKERS_SYNTAX = "workers_syntax"
    WORKERS_PACKAGES = "workers_packages"
    WORKERS_FUNCTION = "workers_function"
    DEPLOY = "deploy"
    DOCS = "docs"


@dataclass(frozen=True)
class Rule:
    """A plan rule: the plan line it enforces, its default phase and success criterion. It
    builds its own findings, so a finding always carries the rule's id and plan quote."""

    id: str
    plan: str
    phase: int
    criterion: str | None = None

    def finding(self, path: str, message: str, fix: str, *, subject: str = "", line: int | None = None,
                severity: Severity = "error", plan: str | None = None, phase: int | None = None) -> Finding:
        """A finding of this rule. `phase` is the spec's phase for the rule (Spec.phase_of);
        `plan` overrides the quoted plan line where one entry of the spec quotes its own."""
        return Finding(rule=str(self.id), path=path, message=message, fix=fix, subject=subject, line=line,
                       severity=severity, plan=self.plan if plan is None else plan,
                       phase=self.phase if phase is None else phase)


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(RuleId.REQUIRED_DIR, "Proposed Target Structure", 1),
        Rule(RuleId.PACKAGE_DIR, "Phase 3.2: Add proper __init__.py files where needed", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.MOVE, "Files to Move/Reorganize", 1),
        Rule(RuleId.MOVE_HISTORY, "Rollback Plan 1: All moves use `git mv` to preserve history", 1),
        Rule(RuleId.ROOT_FILES, "File Organization: Too many files in backend root (20+ files)", 1),
        Rule(RuleId.ROOT_FILE_COUNT, "File Organization: Too many files in backend root (20+ files)", 1),
        Rule(RuleId.ROOT_DIRS, "Proposed Target Structure", 1),
        Rule(RuleId.FORBIDDEN, "Phase 1.1: Move debug/test files to /scripts/debug/ or delete", 1),
        Rule(RuleId.NODE_ONLY_IN_WORKERS, "Phase 2: Separate Node.js Components", 2, SUCCESS_CRITERIA[2]),
        Rule(RuleId.NO_PYTHON_IN_WORKERS, "/workers/: Node.js components (separate from Python)", 2, SUCCESS_CRITERIA[2]),
        Rule(RuleId.RUNTIME_IGNORED, "Phase 1.3: Add logs/ and data/ to .gitignore", 1),
        Rule(RuleId.RUNTIME_UNTRACKED, "Clean up: logs/ directory (add to .gitignore); Logs committed to git repository", 1),
        Rule(RuleId.TRACKED_BUT_IGNORED, "Logs committed to git repository", 1),
        Rule(RuleId.MODULE_PACKAGE_CLASH, "Import Problems: Multiple files importing with inconsistent paths", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.PYTHON_PARSES, "Phase 3.3: Test all imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.IMPORTS_RESOLVE, "Success criteria: All imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.BACKEND_PREFIX, "Phase 3.1: Ensure all Python imports use absolute paths from backend root", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.RELATIVE_DEPTH, "Import Problems: Some modules using relative imports beyond 2 levels", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.SYS_PATH, "Phase 3.1: Ensure all Python imports use absolute paths from backend root", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.INIT_FILES, "Phase 3.2: Add proper __init__.py files where needed", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.NAME_CLASH, "Import Problems: Multiple files importing with inconsistent paths", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.DEPENDENCIES, "Success criteria: All imports work correctly (third-party imports declared)", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.IMPORTABLE, "Phase 3.3: Test all imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.ENTRY_POINT, "Proposed Target Structure: main.py # FastAPI app entry point (above the layers)", 3,
             SUCCESS_CRITERIA[0]),
        Rule(RuleId.CONTRACT, "Current structure: layers (existing, well organized)", 3, SUCCESS_CRITERIA[0]),
        Rule(RuleId.ALIAS, "Rollback Plan 3: Keep old import paths working during transition", 1, SUCCESS_CRITERIA[0]),
        Rule(RuleId.APP_BOOTS, "Success criteria: FastAPI server starts without errors", 3, SUCCESS_CRITERIA[1]),
        Rule(RuleId.MIGRATIONS_SINGLE_HEAD, "Phase 1.4: Clean up old alembic merge heads", 1, SUCCESS_CRITERIA[3]),
        Rule(RuleId.MIGRATIONS_ROUNDTRIP, "Success criteria: Database migrations work", 1, SUCCESS_CRITERIA[3]),
        Rule(RuleId.MIGRATIONS_DRIFT, "Success criteria: Database migrations work", 1, SUCCESS_CRITERIA[3]),
        Rule(RuleId.WORKERS_SYNTAX, "Phase 2.2: Move Node.js files with proper package.json", 2, SUCCESS_CRITERIA[2]),
        Rule(RuleId.WORKERS_PACKAGES, "Phase 2.2: Move Node.js files with proper package.json", 2, SUCCESS_CRITERIA[2]),
        Rule(RuleId.WORKERS_FUNCTION, "Success criteria: Telegram bots function properly", 2, SUCCESS_CRITERIA[2]),
        Rule(RuleId.DEPLOY, "Phase 4.3: Update deployment scripts", 4, SUCCESS_CRITERIA[4]),
        Rule(RuleId.DOCS, "Phase 4.1: Create backend/README.md with new structure", 4, SUCCESS_CRITERIA[5]),
    )
}


def rule(rule_id: RuleId) -> Rule:
    """The catalogue entry of a rule identity."""
    return RULES[rule_id]
