"""Fixed-point solvers (used by the implicit gradient estimator)."""
