"""litefleet: from a Keras model to a fleet of edge devices, kept up to date safely."""

__version__ = "0.1.0"
