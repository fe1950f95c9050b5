"""The ``vidsparse corrupt`` job (writes corrupted copies of a test set) and ``--preview``."""
