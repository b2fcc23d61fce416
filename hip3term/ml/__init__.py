"""The taker's learned signal gate: dataset, purged cross-validation, training, hot-path gate.

`ml.gate` (the feature schema and the tree evaluator the taker loads) imports only the
standard library, `hip3term.book` and `hip3term.errors`, so a strategy plugin may import
it; `ml.dataset`, `ml.cv` and `ml.train` (numpy, LightGBM, recordings) are offline tools.
"""
