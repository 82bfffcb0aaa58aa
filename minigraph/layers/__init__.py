"""Layers (Keras names and constructor arguments)."""
from minigraph.layers.base import Layer, KerasTensor, Node
from minigraph.registry import serialize, deserialize  # keras.layers.serialize / deserialize
from minigraph.layers.input_layer import Input, InputLayer
from minigraph.layers.op_layer import OpLambda
from minigraph.layers.embedding import Embedding, Masking
from minigraph.layers.recurrent import (RNN, GRU, LSTM, SimpleRNN, GRUCell, LSTMCell, SimpleRNNCell)
from minigraph.layers.wrappers import Bidirectional, TimeDistributed
from minigraph.layers.core import Dense, Activation, Dropout, Flatten, Reshape, RepeatVector, Permute
from minigraph.layers.convolutional import Conv1D, Conv2D, Conv1DTranspose, Conv2DTranspose
from minigraph.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from minigraph.layers.pooling import (MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
                                      GlobalMaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling2D,
                                      GlobalAveragePooling2D)
from minigraph.layers.reshaping import (UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D, Cropping1D,
                                        Cropping2D)
from minigraph.layers.activation import ReLU, LeakyReLU, PReLU, ELU, Softmax
from minigraph.layers.normalization import (BatchNormalization, LayerNormalization, GroupNormalization,
                                            UnitNormalization)
from minigraph.layers.regularization import SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization
from minigraph.layers.preprocessing import Rescaling, Resizing, CenterCrop, Normalization
from minigraph.layers.merge import (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
                                    add, subtract, multiply, average, maximum, minimum, concatenate)

# Keras' aliases
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
SeparableConvolution2D = SeparableConv2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
