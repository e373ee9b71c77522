"""The config: the command line checked, the schema, every setting validated, what a run prints of it."""
