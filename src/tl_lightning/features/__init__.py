"""The feature store: each frozen pass computed once per machine, shared by seeds, folds and strategies."""
