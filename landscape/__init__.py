"""Landscape half of swa-landscape: reads checkpoints and runs, evaluates loss and accuracy in weight
space, measures sharpness and draws the pictures. The console script lives in ``landscape.cli``."""

__all__: list[str] = []
