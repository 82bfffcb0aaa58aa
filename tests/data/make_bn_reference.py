"""Write tests/data/bn_reference.npz: BatchNormalization numbers from real Keras (run with the oracle python,
/work/oracle/bin/python; tests/test_batchnorm_kernels.py reads the file).

One float32 NHWC batch x (4, 3, 5, 6), gamma, beta and a cotangent dy; BatchNormalization(momentum=0.9,
epsilon=1e-3) called once with training=True, starting from moving_mean 0 and moving_variance 1:
  y                       the training-mode output (tf_keras, default fused path)
  dx, dgamma, dbeta       gradients of sum(y * dy) (tf.GradientTape)
  mv_tf_keras_fused       tf_keras moving_variance after the step, fused=None (the default: fused kernel)
  mv_tf_keras_unfused     tf_keras moving_variance after the step, fused=False
  mv_keras3               Keras 3 moving_variance after the step
  mm_tf_keras, mm_keras3  moving_mean after the step (the same for every path)
  y_inference             training=False output of a fresh layer with moving_mean mm0 and moving_variance mv0
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tf_keras
import keras

rng = np.random.default_rng(0)
x = (rng.standard_normal((4, 3, 5, 6)) * 2 + 1).astype(np.float32)
gamma = rng.uniform(0.5, 1.5, 6).astype(np.float32)
beta = rng.standard_normal(6).astype(np.float32)
dy = rng.standard_normal(x.shape).astype(np.float32)
mm0 = rng.standard_normal(6).astype(np.float32)
mv0 = rng.uniform(0.5, 2, 6).astype(np.float32)
out = dict(x=x, gamma=gamma, beta=beta, dy=dy, mm0=mm0, mv0=mv0, momentum=np.float32(0.9), epsilon=np.float32(1e-3))


def tf_keras_layer(fused):
    layer = tf_keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, fused=fused)
    layer.build(x.shape)
    layer.set_weights([gamma, beta, np.zeros(6, np.float32), np.ones(6, np.float32)])
    return layer


layer = tf_keras_layer(None)
xt = tf.constant(x)
with tf.GradientTape() as tape:
    tape.watch(xt)
    y = layer(xt, training=True)
    loss = tf.reduce_sum(y * dy)
dx, dgamma, dbeta = tape.gradient(loss, [xt, layer.gamma, layer.beta])
out.update(y=y.numpy(), dx=dx.numpy(), dgamma=dgamma.numpy(), dbeta=dbeta.numpy(),
           mm_tf_keras=layer.moving_mean.numpy(), mv_tf_keras_fused=layer.moving_variance.numpy())
unfused = tf_keras_layer(False)
unfused(xt, training=True)
out["mv_tf_keras_unfused"] = unfused.moving_variance.numpy()

k3 = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
k3.build(x.shape)
k3.set_weights([gamma, beta, np.zeros(6, np.float32), np.ones(6, np.float32)])
k3(x, training=True)
out["mm_keras3"] = np.asarray(k3.moving_mean)
out["mv_keras3"] = np.asarray(k3.moving_variance)

inference = tf_keras_layer(None)
inference.set_weights([gamma, beta, mm0, mv0])
out["y_inference"] = inference(xt, training=False).numpy()
out["versions"] = np.array(f"tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, keras {keras.__version__}")
np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bn_reference.npz"), **out)
