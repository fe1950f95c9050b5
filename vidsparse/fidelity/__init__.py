"""How closely our corruptions and sparse methods follow their papers' reference code, measured.

``vidsparse fidelity`` runs every comparison in :mod:`vidsparse.fidelity.checks` on real
inputs (scikit-image's photographs, clips filmed by a moving window over them) and writes
``docs/fidelity.md``. The comparisons need the reference libraries of the test extra
(imagecorruptions, OpenCV, scikit-image, SciPy), imported at module level here: only the
``fidelity`` command imports this package.
"""
