"""torch.compile + channels_last (RADSYNTH_COMPILE) give the same images as the eager UNet."""

from __future__ import annotations

import numpy as np
import pytest

from models.diffusion.speed import optimize_unet
from models.vocabulary.findings import NIH_LABELS
from tests.conftest import tiny_pipeline


@pytest.mark.slow
def test_compiled_channels_last_unet_draws_the_same_images():
    eager = tiny_pipeline(NIH_LABELS)
    expected = eager("effusion", 2, seeds=[3, 4], num_inference_steps=3).images
    compiled = tiny_pipeline(NIH_LABELS)
    optimize_unet(compiled.unet, channels_last=True, compile=True)
    images = compiled("effusion", 2, seeds=[3, 4], num_inference_steps=3).images
    np.testing.assert_allclose(images, expected, atol=2e-3)
    assert compiled.unet.state_dict().keys() == eager.unet.state_dict().keys()  # saves and loads as before
