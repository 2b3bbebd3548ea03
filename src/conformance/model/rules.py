"""The catalogue of structure rules: the plan line each one enforces and its default phase.

The phase of every rule can be changed in the spec; the plan text is what a failure quotes.
"""

from __future__ import annotations

from dataclasses import dataclass

SUCCESS_CRITERIA = (
    "All imports work correctly",
    "FastAPI server starts without errors",
    "Telegram bots function properly",
    "Database migrations work",
    "Production deployment unchanged",
    "Clear documentation of new structure",
)


@dataclass(frozen=True)
class Rule:
    id: str
    plan: str
    phase: int
    criterion: str | None = None


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("required_dir", "Proposed Target Structure", 1),
        Rule("package_dir", "Phase 3.2: Add proper __init__.py files where needed", 3, SUCCESS_CRITERIA[0]),
        Rule("move", "Files to Move/Reorganize", 1),
        Rule("move_history", "Rollback Plan 1: All moves use `git mv` to preserve history", 1),
        Rule("root_files", "File Organization: Too many files in backend root (20+ files)", 1),
        Rule("root_file_count", "File Organization: Too many files in backend root (20+ files)", 1),
        Rule("root_dirs", "Proposed Target Structure", 1),
        Rule("forbidden", "Phase 1.1: Move debug/test files to /scripts/debug/ or delete", 1),
        Rule("node_only_in_workers", "Phase 2: Separate Node.js Components", 2, SUCCESS_CRITERIA[2]),
        Rule("no_python_in_workers", "/workers/: Node.js components (separate from Python)", 2, SUCCESS_CRITERIA[2]),
        Rule("runtime_ignored", "Phase 1.3: Add logs/ and data/ to .gitignore", 1),
        Rule("runtime_untracked", "Clean up: logs/ directory (add to .gitignore); Logs committed to git repository", 1),
        Rule("tracked_but_ignored", "Logs committed to git repository", 1),
        Rule("module_package_clash", "Import Problems: Multiple files importing with inconsistent paths", 3, SUCCESS_CRITERIA[0]),
        Rule("python_parses", "Phase 3.3: Test all imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule("imports_resolve", "Success criteria: All imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule("backend_prefix", "Phase 3.1: Ensure all Python imports use absolute paths from backend root", 3, SUCCESS_CRITERIA[0]),
        Rule("relative_depth", "Import Problems: Some modules using relative imports beyond 2 levels", 3, SUCCESS_CRITERIA[0]),
        Rule("sys_path", "Phase 3.1: Ensure all Python imports use absolute paths from backend root", 3, SUCCESS_CRITERIA[0]),
        Rule("init_files", "Phase 3.2: Add proper __init__.py files where needed", 3, SUCCESS_CRITERIA[0]),
        Rule("name_clash", "Import Problems: Multiple files importing with inconsistent paths", 3, SUCCESS_CRITERIA[0]),
        Rule("dependencies", "Success criteria: All imports work correctly (third-party imports declared)", 3, SUCCESS_CRITERIA[0]),
        Rule("importable", "Phase 3.3: Test all imports work correctly", 3, SUCCESS_CRITERIA[0]),
        Rule("entry_point", "Proposed Target Structure: main.py # FastAPI app entry point (above the layers)", 3,
             SUCCESS_CRITERIA[0]),
        Rule("contract", "Current structure: layers (existing, well organized)", 3, SUCCESS_CRITERIA[0]),
        Rule("alias", "Rollback Plan 3: Keep old import paths working during transition", 1, SUCCESS_CRITERIA[0]),
        Rule("app_boots", "Success criteria: FastAPI server starts without errors", 3, SUCCESS_CRITERIA[1]),
        Rule("migrations_single_head", "Phase 1.4: Clean up old alembic merge heads", 1, SUCCESS_CRITERIA[3]),
        Rule("migrations_roundtrip", "Success criteria: Database migrations work", 1, SUCCESS_CRITERIA[3]),
        Rule("migrations_drift", "Success criteria: Database migrations work", 1, SUCCESS_CRITERIA[3]),
        Rule("workers_syntax", "Phase 2.2: Move Node.js files with proper package.json", 2, SUCCESS_CRITERIA[2]),
        Rule("workers_packages", "Phase 2.2: Move Node.js files with proper package.json", 2, SUCCESS_CRITERIA[2]),
        Rule("workers_function", "Success criteria: Telegram bots function properly", 2, SUCCESS_CRITERIA[2]),
        Rule("deploy", "Phase 4.3: Update deployment scripts", 4, SUCCESS_CRITERIA[4]),
        Rule("docs", "Phase 4.1: Create backend/README.md with new structure", 4, SUCCESS_CRITERIA[5]),
    )
}
