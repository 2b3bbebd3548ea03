"""Part of the conformance suite, installed as conformance.suite (see pyproject.toml)."""
