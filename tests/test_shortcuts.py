"""The shortcut check flags attribution that sits on the border or on burned-in markers, not on the lungs."""

from __future__ import annotations

import numpy as np

from models.explain.shortcuts import shortcut_check


def image_with_marker() -> np.ndarray:
    image = np.full((200, 160), 0.4, np.float32)
    image[30:40, 120:130] = 1.0  # a burned-in side marker
    return image


def test_attribution_on_a_marker_or_the_border_is_flagged():
    image = image_with_marker()
    on_marker = np.zeros_like(image)
    on_marker[31:39, 121:129] = 1.0
    result = shortcut_check(image, on_marker)
    assert result["flagged"] and result["marker_share"] > 0.99
    on_border = np.zeros_like(image)
    on_border[:5, :] = 1.0
    result = shortcut_check(image, on_border)
    assert result["flagged"] and result["border_share"] > 0.99


def test_attribution_on_the_lungs_passes_and_negative_evidence_is_ignored():
    image = image_with_marker()
    lungs = np.zeros_like(image)
    lungs[60:160, 30:70] = 1.0
    lungs[0:5, :] = -5.0  # negative evidence on the border does not count
    result = shortcut_check(image, lungs)
    assert not result["flagged"] and result["shortcut_share"] == 0.0
    assert "border band" in result["rule"]
