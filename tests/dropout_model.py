"""A user model file for tests: BatchNorm and dropout, built through the 'file.py:function' spec."""

import torch.nn as nn


def build(num_outputs, input_shape, p=0.3):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(16, num_outputs))
