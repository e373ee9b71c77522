"""The config before any work: the command line checked (overrides), the schema, every setting validated in one
place (checks), and what a run prints of it (show_config). May import: inputs."""
