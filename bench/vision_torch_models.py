"""PyTorch twins of minigraph's BatchNorm CNN, MobileNetV2 and ResNet50 for bench/bench_vision.py, written
here (torchvision is not needed): the same layers in the same order, channels_last, built from a minigraph
model's layers by Keras name so that they take its weights (the benchmark checks both give the same outputs).
TensorFlow's 'same' padding on even sizes pads one more after than before; the twins pad the same way."""
import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


class KerasWeights(torch.nn.Module):
    """Parameters taken from a minigraph model's layers: conv kernels (kh, kw, in, out) -> (out, in, kh, kw),
    depthwise (kh, kw, c, 1) -> (c, 1, kh, kw), Dense (in, out) -> (out, in); BatchNormalization's four."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.params = torch.nn.ParameterDict()
        self.buffers_ = {}

    def _get(self, name, index=0):
        return self.model.get_layer(name).get_weights()[index]

    def conv_weight(self, name, depthwise=False):
        k = self._get(name)
        w = k.transpose(2, 3, 0, 1) if depthwise else k.transpose(3, 2, 0, 1)
        self.params[name] = torch.nn.Parameter(_t(w).contiguous(memory_format=torch.channels_last))
        layer = self.model.get_layer(name)
        if getattr(layer, "use_bias", False):
            self.params[name + "_b"] = torch.nn.Parameter(_t(self._get(name, 1)))
        return name

    def bn(self, name):
        gamma, beta, mean, var = self.model.get_layer(name).get_weights()
        self.params[name + "_g"], self.params[name + "_be"] = torch.nn.Parameter(_t(gamma)), torch.nn.Parameter(_t(beta))
        self.buffers_[name] = (_t(mean), _t(var), self.model.get_layer(name).epsilon)
        return name

    def dense(self, name):
        k, b = self.model.get_layer(name).get_weights()
        self.params[name] = torch.nn.Parameter(_t(k.T))
        self.params[name + "_b"] = torch.nn.Parameter(_t(b))
        return name

    # the forward pieces
    def conv(self, x, name, stride=1, padding=0, groups=1):
        return F.conv2d(x, self.params[name], self.params[name + "_b"] if name + "_b" in self.params else None,
                        stride=stride, padding=padding, groups=groups)

    def batchnorm(self, x, name):
        mean, var, eps = self.buffers_[name]
        return F.batch_norm(x, mean, var, self.params[name + "_g"], self.params[name + "_be"], self.training,
                            0.01, eps)

    def linear(self, x, name):
        return F.linear(x, self.params[name], self.params[name + "_b"])


def same_pad(x, kernel, stride):
    """TensorFlow's 'same' padding of x (NCHW) for a square window: the odd pixel after."""
    h, w = x.shape[2:]
    pads = []
    for n in (w, h):
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class BatchNormCNN(KerasWeights):
    """Conv2D(32, same, no bias) -> BN -> ReLU -> MaxPool, the same with 64, GAP, Dense(10) (logits)."""

    def __init__(self, model):
        super().__init__(model)
        self.convs = [self.conv_weight(n) for n in ("conv_a", "conv_b")]
        self.bns = [self.bn(n) for n in ("bn_a", "bn_b")]
        self.dense("logits")

    def forward(self, x):
        for conv, bn in zip(self.convs, self.bns):
            x = F.max_pool2d(F.relu(self.batchnorm(self.conv(x, conv, padding=1), bn)), 2)
        return self.linear(x.mean(dim=(2, 3)), "logits")


class MobileNetV2(KerasWeights):
    """keras.applications.MobileNetV2 (alpha 1, include_top) in inference mode, softmax output."""

    def __init__(self, model):
        super().__init__(model)
        self.conv_weight("Conv1")
        self.bn("bn_Conv1")
        self.blocks = []
        for layer in model.layers:
            name = layer.name
            if name.endswith("depthwise") and type(layer).__name__ == "DepthwiseConv2D":
                prefix = name[:-len("depthwise")]
                has_expand = prefix != "expanded_conv_"
                if has_expand:
                    self.conv_weight(prefix + "expand")
                    self.bn(prefix + "expand_BN")
                self.conv_weight(name, depthwise=True)
                self.bn(prefix + "depthwise_BN")
                self.conv_weight(prefix + "project")
                self.bn(prefix + "project_BN")
                names = {n.name for n in model.layers}
                self.blocks.append((prefix, has_expand, layer.strides[0], prefix + "add" in names))
        self.conv_weight("Conv_1")
        self.bn("Conv_1_bn")
        self.dense("predictions")

    def forward(self, x):
        x = F.relu6(self.batchnorm(self.conv(same_pad(x, 3, 2), "Conv1", stride=2), "bn_Conv1"))
        for prefix, has_expand, stride, residual in self.blocks:
            inputs = x
            if has_expand:
                x = F.relu6(self.batchnorm(self.conv(x, prefix + "expand"), prefix + "expand_BN"))
            x = same_pad(x, 3, stride)  # Keras: ZeroPadding2D(correct_pad) then 'valid', or 'same' at stride 1
            x = self.conv(x, prefix + "depthwise", stride=stride, groups=x.shape[1])
            x = F.relu6(self.batchnorm(x, prefix + "depthwise_BN"))
            x = self.batchnorm(self.conv(x, prefix + "project"), prefix + "project_BN")
            if residual:
                x = x + inputs
        x = F.relu6(self.batchnorm(self.conv(x, "Conv_1"), "Conv_1_bn"))
        return torch.softmax(self.linear(x.mean(dim=(2, 3)), "predictions"), dim=1)


class ResNet50(KerasWeights):
    """keras.applications.ResNet50 (v1 bottlenecks, include_top) in inference mode, softmax output."""

    STACKS = (("conv2", 3, 1), ("conv3", 4, 2), ("conv4", 6, 2), ("conv5", 3, 2))

    def __init__(self, model):
        super().__init__(model)
        self.conv_weight("conv1_conv")
        self.bn("conv1_bn")
        names = {layer.name for layer in model.layers}
        self.blocks = []
        for stack, blocks, stride in self.STACKS:
            for i in range(1, blocks + 1):
                name = f"{stack}_block{i}"
                shortcut = name + "_0_conv" in names
                for part in (("_0", "_1", "_2", "_3") if shortcut else ("_1", "_2", "_3")):
                    self.conv_weight(name + part + "_conv")
                    self.bn(name + part + "_bn")
                self.blocks.append((name, shortcut, stride if i == 1 else 1))
        self.dense("predictions")

    def _conv_bn(self, x, name, stride=1, padding=0):
        return self.batchnorm(self.conv(x, name + "_conv", stride=stride, padding=padding), name + "_bn")

    def forward(self, x):
        x = F.relu(self._conv_bn(F.pad(x, (3, 3, 3, 3)), "conv1", stride=2))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=2)
        for name, shortcut, stride in self.blocks:
            skip = self._conv_bn(x, name + "_0", stride=stride) if shortcut else x
            y = F.relu(self._conv_bn(x, name + "_1", stride=stride))
            y = F.relu(self._conv_bn(y, name + "_2", padding=1))
            x = F.relu(skip + self._conv_bn(y, name + "_3"))
        return torch.softmax(self.linear(x.mean(dim=(2, 3)), "predictions"), dim=1)
