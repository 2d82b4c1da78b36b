"""Recording: the streaming proxy, vcrpy-format cassettes, cassette to scenario."""
