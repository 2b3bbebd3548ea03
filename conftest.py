# Loads the conformance plugin for every pytest session under this directory, nothing else.
pytest_plugins = ["conformance.pytest_plugin.plugin"]
