# pytester runs inner pytest sessions (in subprocesses) that load the plugin under test.
pytest_plugins = ["pytester"]
