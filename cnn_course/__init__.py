"""cnn-course: the library behind the notebooks.

``cnn_course.ref`` is the NumPy reference (forward and backward of every layer),
``cnn_course.pt`` the same operations written in PyTorch. The two mirror each other
module for module: ``cnn_course.ref.conv`` and ``cnn_course.pt.conv`` hold the
convolution, ``cnn_course.ref.pool`` and ``cnn_course.pt.pool`` the pooling.
"""

__version__ = "0.1.0"
