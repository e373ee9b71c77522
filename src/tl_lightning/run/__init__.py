"""The run layer: the entry points at the top (cli.py, train.py, sweep.py), the rest in rooms that import only the
rooms before them, in this order: launch, folder, recovery, inputs, config, outputs, observe (README's table)."""
