"""A volume with its geometry, in one convention used everywhere in RadSynth's 3D code."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    """`array` is (Z, Y, X): slices, rows, columns. `spacing` is (x, y, z) in mm, `origin` the DICOM patient
    (LPS) position in mm of voxel (0, 0, 0), `row_dir` / `col_dir` the LPS directions of increasing x (along a
    row) and increasing y (down a column). Slices advance along row_dir x col_dir."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    row_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)
    col_dir: tuple[float, float, float] = (0.0, 1.0, 0.0)
    meta: dict = field(default_factory=dict)

    @property
    def slice_dir(self) -> np.ndarray:
        return np.cross(self.row_dir, self.col_dir)

    def lps_affine(self) -> np.ndarray:
        """Voxel (x, y, z) index -> LPS mm."""
        affine = np.eye(4)
        affine[:3, 0] = np.asarray(self.row_dir) * self.spacing[0]
        affine[:3, 1] = np.asarray(self.col_dir) * self.spacing[1]
        affine[:3, 2] = self.slice_dir * self.spacing[2]
        affine[:3, 3] = self.origin
        return affine

    def ras_affine(self) -> np.ndarray:
        """Voxel (x, y, z) index -> RAS mm, as NIfTI stores it."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.lps_affine()

    @classmethod
    def from_ras_affine(cls, array_zyx: np.ndarray, affine: np.ndarray, **kw) -> Volume:
        lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
        spacing = tuple(float(np.linalg.norm(lps[:3, i])) for i in range(3))
        row, col = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
        return cls(array_zyx, spacing, tuple(float(v) for v in lps[:3, 3]), tuple(float(v) for v in row),
                   tuple(float(v) for v in col), **kw)
