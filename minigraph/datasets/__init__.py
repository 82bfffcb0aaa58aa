"""keras.datasets: Keras's small data sets, fetched from Keras's origins into the Keras cache."""
from minigraph.datasets import boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters

__all__ = ["boston_housing", "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters"]
