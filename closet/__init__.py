"""closet: garment-swap image pipeline (U^2-Net, SCHP-style parsing, StarGAN v2) for TorchServe.

Importing this package touches no GPU, file, environment variable or socket.
"""

__version__ = "0.1.0"
