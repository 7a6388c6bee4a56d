"""The catalog's Wan 2.2 I2V-A14B: its profile's counts against the real architecture, and a plan that
counts both experts (the high-noise ``transformer`` and the low-noise ``transformer_2``)."""

from __future__ import annotations

import json

import pytest

from model_studio.core.video import GiB, PipelineProfile, plan, validate
from model_studio.errors import ValidationError
from tests.engine.test_video_plan import CATALOG

A14B = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
T2V_A14B = "Wan-AI/Wan2.2-T2V-A14B-Diffusers"


def _entry(model_id: str) -> dict:
    return next(m for m in json.loads(CATALOG.read_text())["models"] if m["id"] == model_id)


def test_a14b_counts_match_the_architecture_built_on_the_meta_device():
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    # diffusers' scripts/convert_wan_to_diffusers.py, model_type "Wan2.2-I2V-14B-720p": both experts alike
    tcfg = dict(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, added_kv_proj_dim=None)
    vcfg = dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, temperal_downsample=[False, True, True])
    profile = PipelineProfile.from_catalog(_entry(A14B))
    with torch.device("meta"):
        expert = WanTransformer3DModel(**tcfg)
        vae = AutoencoderKLWan(**vcfg)
    n = sum(p.numel() for p in expert.parameters())
    assert profile.params["transformer"] == profile.params["transformer_2"] == n
    assert profile.block_params == sum(p.numel() for p in expert.blocks[0].parameters())
    assert profile.params["vae"] == sum(p.numel() for p in vae.parameters())
    assert "image_encoder" not in profile.params  # Wan 2.2 I2V conditions on latents only (no CLIP)
    assert profile.hidden_dim == 40 * 128 and profile.ffn_dim == 13824 and profile.num_layers == 40
    # the text encoder is Wan 2.1's UMT5-XXL, as in the T2V A14B entry
    assert profile.params["text_encoder"] == PipelineProfile.from_catalog(_entry(T2V_A14B)).params["text_encoder"]


def test_a14b_is_image_to_video_with_a_last_frame_and_plans_both_experts():
    profile = PipelineProfile.from_catalog(_entry(A14B))
    assert profile.pipeline == "WanImageToVideoPipeline" and profile.image_to_video and not profile.text_to_video
    assert profile.last_image is True
    with pytest.raises(ValidationError, match="input image is required"):
        validate(profile)
    values = validate(profile, has_image=True)
    assert (values["width"], values["height"], values["num_frames"], values["steps"]) == (1280, 720, 81, 40)
    experts = profile.params["transformer"] + profile.params["transformer_2"]
    p = plan(profile, width=1280, height=720, num_frames=81, device="cuda:0", free_bytes=80 * GiB,
             total_bytes=80 * GiB, ram_free=512 * GiB)
    # all weights (both 14B experts) do not fit 80 GiB at once; one expert at a time does
    assert p.weights_bytes >= experts * 2
    peaks = {o.name: o for o in p.options}
    assert not peaks["gpu"].fits and peaks["gpu"].peak_bytes > experts * 2
    assert p.strategy.offload in ("model", "sequential") and p.fits
    one_expert = profile.params["transformer"] * 2
    assert one_expert < peaks["model_offload"].peak_bytes < experts * 2
