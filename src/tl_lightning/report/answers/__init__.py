"""The assignment's questions, one module each, answered by rules over the measured cells.

Every sentence is built from numbers in the sweep and cites the cells it uses; where the numbers
cannot decide (difference within noise, cell missing) the text says so instead.
"""
