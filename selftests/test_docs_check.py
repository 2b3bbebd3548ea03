"""The README check on the reference and on READMEs that miss a directory or name a dead path."""

from __future__ import annotations

from selftests.trees import reference_repo


def _readme_run(tmp_path, run_suite, edit=None):
    repo = reference_repo(tmp_path / "chatai")
    readme = repo.root / "backend" / "README.md"
    if edit:
        readme.write_text(edit(readme.read_text()))
        repo.commit("edit README")
    return run_suite(repo.root / "backend", "-k", "readme", part="startup")


def test_reference_readme_passes(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite)
    assert run.failed == set(), run.output
    assert run.with_outcome("passed") == {"test_readme_documents_every_directory", "test_readme_has_no_dead_paths"}


def test_missing_directory_is_named(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: "\n".join(
        line for line in text.splitlines() if not line.startswith("- `validators/`")))
    assert run.failed == {"test_readme_documents_every_directory"}, run.output
    assert "backend/README.md does not mention validators/ (Input validation)" in \
        run.messages["test_readme_documents_every_directory"]
    assert "fix:  add a line such as: - `validators/` - Input validation" in \
        run.messages["test_readme_documents_every_directory"]


def test_bare_directory_name_is_not_documentation(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text.replace(
        "- `cache/` — Redis cache with an in-memory TTL fallback.", "- `cache/`"))
    assert run.failed == {"test_readme_documents_every_directory"}, run.output
    assert "mentions cache/ but never says what it holds" in run.messages["test_readme_documents_every_directory"]


def test_dead_path_is_reported_with_its_line(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text + "\nOld tool: `scripts/old/cleanup.py`.\n")
    assert run.failed == {"test_readme_has_no_dead_paths"}, run.output
    line = len((tmp_path / "chatai/backend/README.md").read_text().splitlines())
    assert f"backend/README.md:{line} mentions scripts/old/cleanup.py, which does not exist in the backend" in \
        run.messages["test_readme_has_no_dead_paths"]


def test_missing_readme(tmp_path, run_suite):
    repo = reference_repo(tmp_path / "chatai")
    repo.rm("backend/README.md").commit("drop README")
    run = run_suite(repo.root / "backend", "-k", "readme", part="startup")
    assert "backend/README.md does not exist (or is not committed)" in \
        run.messages["test_readme_documents_every_directory"]


def test_plan_style_tree_diagram_documents_directories(tmp_path, run_suite):
    """The plan's own format: a fenced tree with `# purpose` comments, nesting resolved."""
    def as_tree(text: str) -> str:
        kept = [line for line in text.splitlines() if not line.startswith("- `")]
        tree = ["```", "/backend/"]
        for name, purpose in [("api", "routers"), ("services", "logic"), ("database", "models"),
                              ("core", "config"), ("ai", "providers"), ("cache", "redis"),
                              ("monitoring", "metrics"), ("integrations", "external"), ("validators", "input"),
                              ("security", "configs"), ("templates", "email"), ("utils", "helpers"),
                              ("schemas", "pydantic")]:
            tree.append(f"  /{name}/    # {purpose} code here")
        tree += ["  /scripts/   # all scripts", "    /admin/   # admin tools", "    /maintenance/  # maintenance jobs",
                 "    /monitoring/  # monitoring probes", "  /workers/  # node only", "    /telegram/  # bot workers",
                 "    /master/  # bot management", "  /alembic/  # migrations here", "  /logs/  # runtime logs",
                 "  /data/  # runtime data", "```"]
        return "\n".join(kept + tree) + "\n"
    run = _readme_run(tmp_path, run_suite, as_tree)
    assert run.failed == set(), run.output


def test_command_naming_a_moved_file_by_its_bare_name_is_dead(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text + "\n```bash\npython create_admin.py --user-id 1\n```\n")
    assert run.failed == {"test_readme_has_no_dead_paths"}, run.output
    line = len((tmp_path / "chatai/backend/README.md").read_text().splitlines()) - 1
    message = run.messages["test_readme_has_no_dead_paths"]
    assert (f"backend/README.md:{line} runs `python create_admin.py`, but create_admin.py does not exist in the "
            "backend") in message
    assert "fix:  it moved: write scripts/admin/create_admin.py" in message


def test_dotted_module_that_does_not_exist_is_dead(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text + "\nReindex: `python -m scripts.maintenance.reindex_docs`\n")
    assert run.failed == {"test_readme_has_no_dead_paths"}, run.output
    message = run.messages["test_readme_has_no_dead_paths"]
    assert ("runs `python -m scripts.maintenance.reindex_docs`, but there is no scripts/maintenance/reindex_docs.py "
            "in the backend") in message
    assert "fix:  fix the path (did it move?) or remove the mention" in message


def test_dotted_module_of_a_moved_file_names_its_new_module(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text + "\nCleanup: `python -m scripts.cleanup_users --days 30`\n")
    message = run.messages["test_readme_has_no_dead_paths"]
    assert "runs `python -m scripts.cleanup_users`, but there is no scripts/cleanup_users.py in the backend" in message
    assert "fix:  it moved: write `python -m scripts.admin.cleanup_users` (run from the backend root)" in message


def test_third_party_modules_and_tree_diagrams_are_not_commands_to_check(tmp_path, run_suite):
    run = _readme_run(tmp_path, run_suite, lambda text: text + (
        "\n```bash\npython -m uvicorn main:app\npython -m alembic upgrade head\npython -m pytest -q\n```\n"
        "```\nbackend/\n├── main.py\n└── tools/run.py\n```\n"))
    assert run.failed == set(), run.output
