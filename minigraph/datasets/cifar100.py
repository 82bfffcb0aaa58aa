"""keras.datasets.cifar100: 60,000 32x32 colour images in 100 fine / 20 coarse classes."""
import os

from minigraph.datasets._cifar import as_column, channels_last, fetch_extracted, load_batch


def load_data(label_mode="fine"):
    """((x_train, y_train), (x_test, y_test)): uint8 images (50000, 32, 32, 3) / (10000, 32, 32, 3) and
    int64 labels of shape (n, 1); label_mode 'fine' (0-99) or 'coarse' (0-19)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'cifar100.load_data: `label_mode` must be one of "fine", "coarse". '
                         f"Received: label_mode={label_mode}.")
    folder = fetch_extracted("cifar-100-python.tar.gz", "cifar-100-python-target", "cifar-100-python")
    x_train, y_train = load_batch(os.path.join(folder, "train"), label_key=f"{label_mode}_labels")
    x_test, y_test = load_batch(os.path.join(folder, "test"), label_key=f"{label_mode}_labels")
    return (channels_last(x_train), as_column(y_train)), (channels_last(x_test), as_column(y_test))
