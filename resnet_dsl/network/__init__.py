"""The validated network: spec IR -> evaluated, expanded layer graph (model, ops, shapes, naming)."""
