"""Training facelive's own liveness models on CPU (optional extra ``facelive[train]``).

Nothing in the runtime imports this package or PyTorch.
"""
