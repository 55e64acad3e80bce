"""The build side: train, compress, convert, evaluate. The only package that imports TensorFlow."""
