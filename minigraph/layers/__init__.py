"""Layers (Keras names and constructor arguments)."""
from minigraph.layers.base import Layer, KerasTensor, Node
from minigraph.layers.input_layer import Input, InputLayer
