"""Oversamplers for the fraud class: none, SMOTE, the GAN family and a diffusion model,
behind one interface.

>>> sampler = make_oversampler("wgan-gp", sampling_ratio=0.2, random_state=7, steps=500)
>>> X_res, y_res = sampler.fit_resample(X, y)          # doctest: +SKIP
>>> rows = load_generator(sampler.generator_bytes()).sample(1000, seed=3)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from fraudspark.features.definitions import column_kind
from fraudspark.oversampling.base import BaseOversampler, NoOversampler
from fraudspark.oversampling.diffusion import (
    DiffusionOversampler,
    DiffusionRowGenerator,
    ProfileDiffusionOversampler,
)
from fraudspark.oversampling.export import RowGenerator, SyntheticRowGenerator, load_generator
from fraudspark.oversampling.gan import (
    ACGANOversampler,
    CGANOversampler,
    GANOversampler,
    WCGANOversampler,
    WGANGPOversampler,
    WGANOversampler,
)
from fraudspark.oversampling.networks import gradient_penalty
from fraudspark.oversampling.smote import SMOTEOversampler
from fraudspark.oversampling.tabular import (
    FeatureSchema,
    TabularTransform,
    count_violations,
    make_valid,
)

OVERSAMPLERS: dict[str, type[BaseOversampler]] = {
    "none": NoOversampler,
    "smote": SMOTEOversampler,
    "gan": GANOversampler,
    "cgan": CGANOversampler,
    "wgan": WGANOversampler,
    "wgan-gp": WGANGPOversampler,
    "wcgan": WCGANOversampler,
    "acgan": ACGANOversampler,
    "diffusion": DiffusionOversampler,
    "diffusion-profile": ProfileDiffusionOversampler,
}


def make_oversampler(method: str, **params: Any) -> BaseOversampler:
    """The oversampler named ``method`` (a key of ``OVERSAMPLERS``) built with ``params``."""
    if method not in OVERSAMPLERS:
        raise ValueError(f"unknown oversampling method {method!r}: one of {sorted(OVERSAMPLERS)}")
    return OVERSAMPLERS[method](**params)


__all__ = [
    "OVERSAMPLERS",
    "ACGANOversampler",
    "BaseOversampler",
    "CGANOversampler",
    "DiffusionOversampler",
    "DiffusionRowGenerator",
    "FeatureSchema",
    "GANOversampler",
    "NoOversampler",
    "ProfileDiffusionOversampler",
    "RowGenerator",
    "SMOTEOversampler",
    "SyntheticRowGenerator",
    "TabularTransform",
    "WCGANOversampler",
    "WGANGPOversampler",
    "WGANOversampler",
    "column_kind",
    "count_violations",
    "gradient_penalty",
    "load_generator",
    "make_oversampler",
    "make_valid",
]
