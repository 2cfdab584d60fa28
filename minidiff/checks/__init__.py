"""Checks that compare a learner's scratch code with the package reference, one module per chapter.

Each ``check_<thing>(candidate)`` runs the candidate and the reference on a fixed seed and tiny shapes,
prints one line per passed check and raises ``AssertionError`` with a hint on the first failure. Handed a
workbook's stub (a body that still raises ``NotImplementedError``), a check fails with one line,
``my_interpolate is not written yet: <the stub's hint>``, and no traceback into this package.
A chapter calls them as ``checks.check_<thing>``; ``checks.core`` holds what they share.
"""

from minidiff.checks.clip import check_bpe, check_clip_loss, check_image_encoder, check_text_encoder
from minidiff.checks.core import NotWrittenYet
from minidiff.checks.dit import check_dit, check_dit_block, check_final_layer
from minidiff.checks.drawing import check_map_tokens
from minidiff.checks.flow import (
    check_euler,
    check_flow_loss,
    check_heun,
    check_interpolate,
    check_time_convention,
    check_velocity,
)
from minidiff.checks.guidance import check_cross_attn_block, check_drop_condition, check_guided
from minidiff.checks.pipeline import check_text_to_image
from minidiff.checks.prediction import check_to_v, check_v_loss
from minidiff.checks.repa import check_alignment
from minidiff.checks.tread import check_routed_forward
from minidiff.checks.unet import (
    check_attention,
    check_attn_block,
    check_resblock,
    check_timestep_embedding,
    check_unet,
)
from minidiff.checks.vae import (
    check_free_bits,
    check_kl,
    check_reparameterize,
    check_vae_loss,
    check_vae_resblock,
)

__all__ = [
    "NotWrittenYet",
    "check_time_convention",
    "check_interpolate",
    "check_velocity",
    "check_flow_loss",
    "check_euler",
    "check_heun",
    "check_timestep_embedding",
    "check_resblock",
    "check_attention",
    "check_attn_block",
    "check_unet",
    "check_reparameterize",
    "check_kl",
    "check_free_bits",
    "check_vae_resblock",
    "check_vae_loss",
    "check_cross_attn_block",
    "check_drop_condition",
    "check_guided",
    "check_bpe",
    "check_text_encoder",
    "check_image_encoder",
    "check_clip_loss",
    "check_text_to_image",
    "check_dit_block",
    "check_final_layer",
    "check_dit",
    "check_to_v",
    "check_map_tokens",
    "check_routed_forward",
    "check_alignment",
    "check_v_loss",
]
