"""keras.applications: ImageNet models with Keras's architectures, layer names and weight files."""
from minigraph.applications import imagenet_utils, vgg
from minigraph.applications.vgg import VGG16, VGG19

# Keras's per-family module names (keras.applications.vgg16.preprocess_input, ...).
vgg16 = vgg19 = vgg

__all__ = ["imagenet_utils", "vgg16", "vgg19", "VGG16", "VGG19"]
