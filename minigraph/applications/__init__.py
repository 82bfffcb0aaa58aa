"""keras.applications: ImageNet models with Keras's architectures, layer names and weight files."""
from minigraph.applications import imagenet_utils, mobilenet_v2, resnet, vgg, xception
from minigraph.applications.mobilenet_v2 import MobileNetV2
from minigraph.applications.resnet import ResNet50, ResNet101, ResNet152
from minigraph.applications.vgg import VGG16, VGG19
from minigraph.applications.xception import Xception

# Keras's per-model module names (keras.applications.vgg16.preprocess_input, ...).
vgg16 = vgg19 = vgg
resnet50 = resnet

__all__ = ["imagenet_utils", "vgg16", "vgg19", "resnet", "resnet50", "mobilenet_v2", "xception", "VGG16", "VGG19",
           "ResNet50", "ResNet101", "ResNet152", "MobileNetV2", "Xception"]
