"""A tiny user model for tests: an MLP with BatchNorm on flattened 8×8 digits (~480 parameters)."""

import torch.nn as nn


def build(num_outputs, input_shape, hidden=6):
    n_in = 1
    for s in input_shape:
        n_in *= s
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.Tanh(),
                         nn.Linear(hidden, num_outputs))
