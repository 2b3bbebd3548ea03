"""Canaries for the guard's network part: the reference backend with a settings default that points
its Redis cache at a server no check started (the way most backends default to
redis://localhost:6379), and a spec that does not override it. The app and deploy checks must
leave the canary without a single connection and name the line that connected, the server and
the library; a real Redis on this machine (CI has one) must see no new client either.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest

from conformance.model.spec_loader import load_spec
from selftests.test_net_guard import Listener
from selftests.trees import PROJECT, reference_repo

CONFIG_PY = "backend/core/config.py"
CACHE_PY = "backend/cache/redis_cache.py"
PING_LINE = "        self._client.ping()"


def redis_default(repo_root: Path, url: str) -> int:
    """Make the settings default to `url` for Redis; returns the line of the cache that connects."""
    path = repo_root / CONFIG_PY
    text = path.read_text(encoding="utf-8")
    assert '    redis_url: str = ""\n' in text
    path.write_text(text.replace('    redis_url: str = ""\n', f'    redis_url: str = "{url}"\n'), encoding="utf-8")
    lines = (repo_root / CACHE_PY).read_text(encoding="utf-8").splitlines()
    return lines.index(PING_LINE) + 1


def spec_without_redis_url(tmp_path: Path, backend: Path, network: str = "") -> Path:
    """The project's spec with an absolute backend, no REDIS_URL in test_env, and `network` added."""
    text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    conf = text[text.index("[tool.conformance]"):]
    conf, n_backend = re.subn(r'(?m)^backend = ".*"$', f'backend = "{backend}"', conf)
    conf, n_redis = re.subn(r'(?m)^REDIS_URL = ""\n', "", conf)
    assert (n_backend, n_redis) == (1, 1), "pyproject.toml's [tool.conformance] changed shape"
    path = tmp_path / "spec.toml"
    path.write_text(conf + ("\n[tool.conformance.network]\n" + network if network else ""), encoding="utf-8")
    load_spec(path)
    return path


def refused(line: int, target: str, server: str, during: str) -> str:
    return (f"{CACHE_PY}:{line} connects to {target} ({server}), a server the check did not start: the suite "
            f"refused the connection before anything was sent ({during}, redis)")


def run_with_redis_at_canary(run_suite, tmp_path: Path, selection: str, allow: bool = False
                             ) -> tuple[object, Listener, int]:
    """The reference with its Redis defaulting to a canary listener on a protected port (allowed
    with `allow`), the startup checks `selection` run on it: (result, canary, connecting line)."""
    canary = Listener()
    try:
        repo = reference_repo(tmp_path / "repo")
        line = redis_default(repo.root, f"redis://127.0.0.1:{canary.port}/0")
        repo.commit("settings default to a local Redis")
        network = f"protected_ports = [{canary.port}]\n" + (f'allow = ["localhost:{canary.port}"]\n' if allow else "")
        config = spec_without_redis_url(tmp_path, repo.root / "backend", network)
        result = run_suite(None, "--conformance-config", str(config), "-k", selection, part="startup")
    finally:
        canary.close()
    return result, canary, line


def test_app_and_deploy_checks_never_reach_a_server_they_did_not_start(run_suite, tmp_path: Path) -> None:
    result, canary, line = run_with_redis_at_canary(run_suite, tmp_path, "app or deploy")
    assert canary.accepted == 0
    # one cause, one failure: the start script boots the same app, so the deploy check names the
    # app check's finding as a warning instead of failing on it again
    assert {name for name, outcome in result.outcomes.items() if outcome == "failed"} == {
        "test_app_boots_and_answers_health"}, result.output
    assert result.outcomes["test_start_script_starts_app"] == "passed"
    target = f"127.0.0.1:{canary.port}"
    boot = result.messages["test_app_boots_and_answers_health"]
    assert "1 finding:" in boot  # the app fell back to memory: the refusal is the one cause
    assert refused(line, target, "a protected port", "uvicorn main:app") in boot
    assert ("fix:  make backend/cache/redis_cache.py read the server's address from the environment and set it in "
            '[tool.conformance.test_env] (e.g. REDIS_URL = "" for an in-memory fallback, or a stand-in the check '
            f'may use); to let the checks use this server, add "{target}" to [tool.conformance.network] allow'
            ) in boot
    assert (f"{CACHE_PY}:{line} is reported by test_app_boots_and_answers_health (the app "
            f"backend/start_production.sh starts connects to {target} too)") in result.output


def test_the_deploy_check_alone_reports_the_refusal_itself(run_suite, tmp_path: Path) -> None:
    result, canary, line = run_with_redis_at_canary(run_suite, tmp_path, "starts_app")
    assert canary.accepted == 0
    assert result.outcomes == {"test_start_script_starts_app": "failed"}, result.output
    deploy = result.messages["test_start_script_starts_app"]
    assert "1 finding:" in deploy
    assert refused(line, f"127.0.0.1:{canary.port}", "a protected port", "run of backend/start_production.sh") in deploy


def test_allowing_the_server_in_the_spec_lets_the_checks_use_it(run_suite, tmp_path: Path) -> None:
    result, canary, _ = run_with_redis_at_canary(run_suite, tmp_path, "app_boots", allow=True)
    assert result.outcomes == {"test_app_boots_and_answers_health": "passed"}, result.output
    assert canary.accepted >= 1  # it connected (the canary is no Redis: the cache fell back to memory)


def _local_redis() -> object | None:
    redis = pytest.importorskip("redis")
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError:
        return None
    return redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)


def test_a_real_redis_on_its_usual_port_sees_no_client(run_suite, tmp_path: Path) -> None:
    """Without any network setting: 6379 is protected by default. The client stays connected
    across the run, so the server's connection counter moves only for someone else."""
    client = _local_redis()
    if client is None:
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one); the listener canaries above still run")
    repo = reference_repo(tmp_path / "repo")
    line = redis_default(repo.root, "redis://127.0.0.1:6379/0")
    repo.commit("settings default to the machine's Redis")
    config = spec_without_redis_url(tmp_path, repo.root / "backend")
    before = client.info("stats")["total_connections_received"]
    result = run_suite(None, "--conformance-config", str(config), "-k", "app_boots", part="startup")
    after = client.info("stats")["total_connections_received"]
    client.close()
    assert after == before
    assert result.outcomes == {"test_app_boots_and_answers_health": "failed"}, result.output
    assert refused(line, "127.0.0.1:6379", "the usual port of Redis", "uvicorn main:app") in \
        result.messages["test_app_boots_and_answers_health"]


def test_a_module_that_connects_at_import_is_one_finding_at_the_line_that_connected(run_suite, tmp_path: Path) -> None:
    canary = Listener()
    try:
        repo = reference_repo(tmp_path / "repo")
        (repo.root / "backend/utils/remote_flags.py").write_text(
            'import urllib.request\n\nFLAGS = urllib.request.urlopen("https://config.example.com/flags", timeout=5)\n')
        (repo.root / "backend/services/flags.py").write_text("from utils.remote_flags import FLAGS\n")
        (repo.root / "backend/cache/warm.py").write_text(
            f'import socket\n\nsocket.create_connection(("localhost", {canary.port}), timeout=5).close()\n')
        repo.commit("flags fetched and cache warmed at import")
        config = spec_without_redis_url(tmp_path, repo.root / "backend", f"protected_ports = [{canary.port}]\n")
        result = run_suite(None, "--conformance-config", str(config), "-k", "importable", part="imports")
    finally:
        canary.close()
    assert canary.accepted == 0
    assert {name for name, outcome in result.outcomes.items() if outcome == "failed"} == {
        "test_importable[utils]", "test_importable[cache]"}, result.output  # services.flags: utils' cause
    assert result.messages["test_importable[utils]"].startswith(
        "1 finding:\n\nbackend/utils/remote_flags.py:3 connects to config.example.com:443, outside this machine: "
        "the suite refused the connection before the name was looked up or anything was sent (import of "
        "utils.remote_flags, http); the import of services.flags, utils.remote_flags fails because of it\n")
    assert ("fix:  connect when the app starts (in a function it calls), not at import; the checks run offline: "
            "make backend/utils/remote_flags.py reach config.example.com:443 only when a setting says so"
            ) in result.messages["test_importable[utils]"]
    assert result.messages["test_importable[cache]"].startswith(
        f"1 finding:\n\nbackend/cache/warm.py:3 connects to 127.0.0.1:{canary.port} (a protected port), a server the "
        "check did not start: the suite refused the connection before anything was sent (import of cache.warm, "
        "socket)\n")


REMOTE_PROVIDER = '''

class RemoteProvider:
    """Replies from a hosted model."""

    name = "remote"

    def generate(self, messages: Sequence[PromptMessage]) -> str:
        import json
        import urllib.request

        body = json.dumps({"messages": [m.content for m in messages]}).encode()
        with urllib.request.urlopen("https://api.example-ai.com/v1/chat", data=body, timeout=10) as answer:
            return json.loads(answer.read())["reply"]


PROVIDERS["remote"] = RemoteProvider
'''


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_backend_that_calls_out_while_serving_a_worker_is_the_workers_one_finding(run_suite, tmp_path: Path) -> None:
    """The AI provider defaults to a hosted model and test_env does not choose the offline one:
    the worker gets no answer, and the finding is the backend's line that called out, not a
    worker that "did not answer"."""
    repo = reference_repo(tmp_path / "repo")
    providers = repo.root / "backend/ai/providers.py"
    providers.write_text(providers.read_text(encoding="utf-8") + REMOTE_PROVIDER, encoding="utf-8")
    line = providers.read_text(encoding="utf-8").splitlines().index(
        '        with urllib.request.urlopen("https://api.example-ai.com/v1/chat", data=body, timeout=10) as answer:') + 1
    config_py = repo.root / CONFIG_PY
    config_py.write_text(config_py.read_text(encoding="utf-8").replace('ai_provider: str = "offline"',
                                                                       'ai_provider: str = "remote"'), encoding="utf-8")
    repo.commit("a hosted model by default")
    config = spec_without_redis_url(tmp_path, repo.root / "backend")
    text = config.read_text(encoding="utf-8")
    assert 'AI_PROVIDER = "offline"\n' in text and 'name = "bot-manager"\n' in text
    config.write_text(text.replace('AI_PROVIDER = "offline"\n', "").replace(
        'name = "bot-manager"\n', 'name = "bot-manager"\nreply_timeout = 6\n'), encoding="utf-8")
    result = run_suite(None, "--conformance-config", str(config), "-k", "worker_functions", part="startup")
    message = result.messages["test_worker_functions[bot-manager]"]
    assert message.startswith(
        f"1 finding:\n\nbackend/ai/providers.py:{line} connects to api.example-ai.com:443, outside this machine: the "
        "suite refused the connection before the name was looked up or anything was sent (the backend serving "
        "worker bot-manager, http); worker bot-manager got no answer to its message because of it\n"), message
    assert '"api.example-ai.com:443" to [tool.conformance.network] allow' in message
