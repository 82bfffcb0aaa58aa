"""Layers (Keras names and constructor arguments)."""
from minigraph.layers.base import Layer, KerasTensor, Node
from minigraph.registry import serialize, deserialize  # keras.layers.serialize / deserialize
from minigraph.layers.input_layer import Input, InputLayer
from minigraph.layers.core import Dense, Activation, Dropout, Flatten, Reshape
from minigraph.layers.convolutional import Conv2D, Conv2DTranspose
from minigraph.layers.pooling import MaxPooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D
from minigraph.layers.reshaping import UpSampling2D
from minigraph.layers.merge import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
                                    add, subtract, multiply, average, maximum, minimum, concatenate)

# Keras' aliases
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
MaxPool2D = MaxPooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
