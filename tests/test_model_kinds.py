"""Model kinds are declared once: a new kind registered in one place is served as its declaration says."""

from __future__ import annotations

import pytest

from core.contracts import GenerateParams, TrainParams
from models.catalog import service_kinds
from models.vocabulary import model_kinds
from models.vocabulary.model_kinds import KINDS, ModelKind, makes_images, makes_volumes, model_kind, register


@pytest.fixture
def toy_kind():
    """A toy 2D generator kind that takes at most 3 images and refuses gif; removed afterwards."""
    kind = register(ModelKind("toy2d", "toy image generator", makes="image", max_images=3,
                              generate_refuses={"gif": "toys draw no GIF"}))
    yield kind
    KINDS.pop(kind.name)


def test_a_registered_2d_kind_is_a_generator_everywhere(toy_kind):
    info = {"name": "toy", "kind": "toy2d", "resolution": 64}
    assert "toy2d" in service_kinds("generator") and makes_images(info) and not makes_volumes(info)
    params = GenerateParams(finding="mass", n=2)
    params.fit_to_model(info)
    assert params.format == ["png", "dicom"] and params.qc is False  # qc not declared for the toy
    with pytest.raises(ValueError, match="at most 3"):
        GenerateParams(finding="mass", n=4).fit_to_model(info)
    with pytest.raises(ValueError, match="toys draw no GIF"):
        GenerateParams(finding="mass", gif=True).fit_to_model(info)
    with pytest.raises(ValueError, match="64-px images"):
        GenerateParams(finding="mass", resolution=128).fit_to_model(info)


def test_the_page_and_models_route_read_what_a_kind_makes(toy_kind):
    from app.routes.models import generate_defaults
    from core.settings import Settings

    defaults = generate_defaults({"name": "toy", "kind": "toy2d", "resolution": 64, "findings": ["mass"]},
                                 Settings())
    assert defaults["formats"] == ["png", "dicom"] and defaults["qc"] is False
    assert generate_defaults({"name": "c", "kind": "classifier"}, Settings()) is None


def test_volume_kinds_take_volume_formats_and_refuse_2d_options():
    info = {"name": "v", "kind": "generator3d", "resolution": 32}
    params = GenerateParams(finding="normal", n=2)
    params.fit_to_model(info)
    assert params.format == ["nifti"] and params.qc is False
    with pytest.raises(ValueError, match="png"):
        GenerateParams(finding="normal", format=["png"]).fit_to_model(info)
    with pytest.raises(ValueError, match="one finding per volume"):
        GenerateParams(finding="normal+hyperplasia").fit_to_model(info)
    with pytest.raises(ValueError, match="guidance_interval"):
        GenerateParams(finding="normal", guidance_interval="0:0.5").fit_to_model(info)


def test_train_options_belong_to_the_kinds_that_declare_them():
    with pytest.raises(ValueError, match="latent is for kind generator3d"):
        TrainParams(kind="generator", name="g1", latent=True)
    with pytest.raises(ValueError, match="synthetic is for kind augmentation_study"):
        TrainParams(kind="classifier", name="c1", synthetic="s")
    with pytest.raises(ValueError, match="holds volumes"):
        TrainParams(kind="classifier", name="c1").check_dataset("adrenal", "volume")
    TrainParams(kind="generator3d", name="v1", resolution=32).check_dataset("adrenal", "volume")


def test_unknown_kinds_are_named():
    with pytest.raises(model_kinds.UnknownModelKind, match="known: generator"):
        model_kind("nope")
