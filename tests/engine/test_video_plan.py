"""Video profile, validation, presets and memory planner (no model loading)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model_studio.core.units import human_size
from model_studio.core.video import GiB, PipelineProfile, plan, validate
from model_studio.errors import ResourceError, ValidationError

CATALOG = Path(__file__).resolve().parents[2] / "src" / "model_studio" / "core" / "catalog.json"
WAN13 = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
WAN5 = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"


def _entry(model_id: str) -> dict:
    return next(m for m in json.loads(CATALOG.read_text())["models"] if m["id"] == model_id)


def _profile(model_id: str) -> PipelineProfile:
    return PipelineProfile.from_catalog(_entry(model_id))


SIZES = {WAN13: (832, 480, 81), WAN5: (1280, 704, 121)}

# Peaks (GiB, 10% safety and 0.75 GiB CUDA overhead included), computed from the model then frozen:
# Wan2.1 1.3B @832x480x81 (32760 tokens): gpu 21.3, gpu_vae_tiling 18.3, model_offload 12.6 (UMT5-XXL text
#   encoder 10.6 GiB bf16 is the largest component), model_offload_vae_tiling 12.6, sequential 5.4.
# Wan2.2 5B @1280x704x121 (27280 tokens): gpu 38.3, gpu_vae_tiling 29.3, model_offload 16.4 (VAE decode of
#   121 frames at 1280x704 in float32), model_offload_vae_tiling 14.7 (text encoder), sequential 6.6.
# CPU (float32): Wan 1.3B 35.6-36.1 GiB (bfloat16: 18.4-18.8); Wan 5B 55.1-60.4 (bfloat16: 28.1-31.4).
TABLE = [
    (WAN13, 8, "sequential_offload"),  # 5.4 <= 8; model offload needs 12.6
    (WAN13, 12, "sequential_offload"),  # model offload 12.6 > 12 (text encoder alone 10.6 GiB + overhead)
    (WAN13, 16, "model_offload"),  # 12.6 <= 16 < 18.3 (all weights + tiled VAE)
    (WAN13, 24, "gpu"),  # everything 21.3 <= 24
    (WAN13, 80, "gpu"),
    (WAN13, "cpu16", ResourceError),  # bfloat16 needs 18.4 > 16
    (WAN13, "cpu32", ("cpu", "bfloat16")),  # float32 35.6 > 32, bfloat16 18.8 fits
    (WAN13, "cpu64", ("cpu", "float32")),  # float32 36.1 fits
    (WAN5, 8, "sequential_offload"),  # 6.6 <= 8 < 14.7
    (WAN5, 12, "sequential_offload"),  # model offload + tiling 14.7 > 12
    (WAN5, 16, "model_offload_vae_tiling"),  # 14.7 <= 16 < 16.4 (untiled decode)
    (WAN5, 24, "model_offload"),  # 16.4 <= 24 < 29.3 (all weights 22 GiB + tiled decode)
    (WAN5, 80, "gpu"),  # 38.3 <= 80
    (WAN5, "cpu16", ResourceError),  # bfloat16 28.1 > 16
    (WAN5, "cpu32", ("cpu", "bfloat16")),  # float32 55.1 > 32, bfloat16 31.4 fits
    (WAN5, "cpu64", ("cpu", "float32")),  # float32 60.4 <= 64
]


@pytest.mark.parametrize("model_id,free,expected", TABLE)
def test_plan_table(model_id, free, expected):
    profile = _profile(model_id)
    w, h, f = SIZES[model_id]
    if isinstance(free, str):
        kwargs = dict(device="cpu", free_bytes=int(free[3:]) * GiB)
    else:
        kwargs = dict(device="cuda:0", free_bytes=free * GiB, device_name="Test GPU", ram_free=64 * GiB)
    if expected is ResourceError:
        with pytest.raises(ResourceError) as info:
            plan(profile, width=w, height=h, num_frames=f, **kwargs)
        assert info.value.details["needed"] > info.value.details["free"]
        assert info.value.details["peaks"] and info.value.resolution_steps
        return
    result = plan(profile, width=w, height=h, num_frames=f, **kwargs)
    if isinstance(expected, tuple):
        assert (result.strategy.name, result.dtype) == expected
        assert not result.gpu
    else:
        assert result.strategy.name == expected and result.gpu and result.dtype == "bfloat16"
        peaks = [o.peak_bytes for o in result.options]
        assert peaks == sorted(peaks, reverse=True)
    assert result.reasoning and all(isinstance(r, str) and r for r in result.reasoning)
    assert result.strategy.fits and result.strategy.peak_bytes <= result.free_bytes
    d = result.to_dict()
    assert d["fits"] is True and d["strategy"]["name"] == result.strategy.name
    assert d["tokens"] == result.tokens > 0 and len(d["latent_shape"]) == 5


def test_tokens_and_latent_shape():
    result = plan(_profile(WAN13), width=832, height=480, num_frames=81, device="cuda:0", free_bytes=80 * GiB)
    assert result.latent_shape == [1, 16, 21, 60, 104]
    assert result.tokens == 21 * 30 * 52


def test_plan_states_sizes_in_decimal_units_as_the_hub_does():
    # Given a GPU with 80 GiB free, when a plan is made
    result = plan(_profile(WAN13), width=832, height=480, num_frames=81, device="cuda:0", free_bytes=80 * GiB,
                  device_name="Test GPU", ram_free=64 * GiB)
    # Then its reasoning and each option's reason say GB (1 GB = 10^9 bytes): 80 GiB is 85.9 GB
    text = "\n".join([*result.reasoning, *(o.reason for o in result.options)])
    assert "CUDA GPU Test GPU with 85.9 GB free" in text
    assert f"of {human_size(80 * GiB)} free, the fastest option" in text
    assert "GiB" not in text


def test_forced_offload_that_does_not_fit_suggests_a_setting_that_fits():
    profile = _profile(WAN5)
    with pytest.raises(ResourceError) as info:
        plan(profile, width=1280, height=704, num_frames=121, device="cuda:0", free_bytes=6 * GiB,
             offload="sequential", ram_free=64 * GiB)
    err = info.value
    assert err.details["needed"] > err.details["free"] == 6 * GiB
    assert set(err.details["peaks"]) >= {"gpu", "model_offload", "sequential_offload"}
    assert any("GPU with at least" in s for s in err.resolution_steps)
    size = next(s for s in err.resolution_steps if s.startswith("Use a smaller size"))
    w, h = (int(x) for x in re.search(r"width=(\d+), height=(\d+)", size).groups())
    ok = plan(profile, width=w, height=h, num_frames=121, device="cuda:0", free_bytes=6 * GiB,
              offload="sequential", ram_free=64 * GiB)
    assert ok.fits and ok.strategy.offload == "sequential"
    frames = next(s for s in err.resolution_steps if s.startswith("Use fewer frames"))
    f = int(re.search(r"num_frames=(\d+)", frames).group(1))
    assert (f - 1) % 4 == 0
    assert plan(profile, width=1280, height=704, num_frames=f, device="cuda:0", free_bytes=6 * GiB,
                offload="sequential", ram_free=64 * GiB).fits


def test_forced_none_points_to_auto():
    with pytest.raises(ResourceError) as info:
        plan(_profile(WAN13), width=832, height=480, num_frames=81, device="cuda:0", free_bytes=16 * GiB,
             offload="none")
    assert info.value.resolution_steps[0].startswith("Use offload='auto'")


def test_offload_needs_host_ram():
    with pytest.raises(ResourceError) as info:
        plan(_profile(WAN13), width=832, height=480, num_frames=81, device="cuda:0", free_bytes=16 * GiB,
             ram_free=8 * GiB)
    assert "host RAM" in info.value.details["reasons"]["model_offload"]


def _field_error(profile, **kwargs) -> dict:
    with pytest.raises(ValidationError) as info:
        validate(profile, **kwargs)
    d = info.value.details
    assert {"field", "value", "constraint", "nearest"} <= set(d)
    return {**d, "message": info.value.message}


def test_validate_frames_sizes_and_ranges():
    wan, wan5 = _profile(WAN13), _profile(WAN5)
    ltx = _profile("Lightricks/LTX-Video")
    e = _field_error(wan, num_frames=80)
    assert e["field"] == "num_frames" and e["nearest"] == 81 and e["constraint"] == "4k+1"
    assert "4k+1" in e["message"] and "81" in e["message"]
    assert _field_error(ltx, num_frames=100)["nearest"] == 97
    assert _field_error(ltx, num_frames=300)["constraint"] == "at most 257"
    assert validate(ltx, num_frames=161)["num_frames"] == 161
    assert _field_error(wan, width=830)["nearest"] == 832
    e = _field_error(wan5, height=720)
    assert e["constraint"] == "multiple of 32" and e["nearest"] in (704, 736)
    assert _field_error(ltx, width=700)["nearest"] == 704
    assert _field_error(wan, width=8)["nearest"] == 16
    assert _field_error(wan, height=5000)["nearest"] == 4096
    assert _field_error(wan, steps=0)["nearest"] == 1
    assert _field_error(wan, steps=500)["nearest"] == 200
    assert _field_error(wan, guidance=31)["nearest"] == 30
    assert _field_error(wan, fps=0)["nearest"] == 1
    assert _field_error(wan, steps="many")["constraint"] == "number"
    assert _field_error(wan, has_image=True)["field"] == "image"
    assert _field_error(_profile("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"))["constraint"] == "image required"
    assert validate(wan5, has_image=True)["width"] == 1280
    assert validate(wan) == {"width": 832, "height": 480, "num_frames": 81, "steps": 50, "guidance": 5.0,
                             "fps": 16}
    cog = _profile("THUDM/CogVideoX-5b")
    # CogVideoX decodes latent frames in pairs after the first: 8k+1 (the tiny one pads 13 to 16)
    assert cog.rules()["frame_step"] == 8 and cog.max_frames == 49
    assert _field_error(cog, num_frames=53)["nearest"] == 49
    assert _field_error(cog, num_frames=13)["nearest"] in (9, 17)


def test_rules_and_presets():
    for model_id, multiple in ((WAN13, 16), (WAN5, 32), ("Lightricks/LTX-Video", 32)):
        profile = _profile(model_id)
        assert profile.rules()["size_multiple"] == multiple
        presets = profile.presets()
        assert presets[0]["width"] == profile.defaults["width"]
        assert all(p["width"] % multiple == 0 and p["height"] % multiple == 0 for p in presets)
        assert len({(p["width"], p["height"]) for p in presets}) == len(presets) >= 4
        assert all(p["label"] for p in presets)
    assert _profile(WAN13).to_dict()["rules"]["frame_step"] == 4
    assert _profile("Lightricks/LTX-Video").rules()["frame_step"] == 8


def _write_st(folder: Path, tensors: dict[str, tuple[int, ...]]) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.zeros(s, dtype=np.float16) for k, s in tensors.items()},
              str(folder / "diffusion_pytorch_model.safetensors"))


def _fake(tmp_path: Path, pipeline: str, tcfg: dict, vcfg: dict, extra: dict | None = None) -> Path:
    root = tmp_path / pipeline
    index = {"_class_name": pipeline, "_diffusers_version": "0.42.1", **(extra or {}),
             "transformer": ["diffusers", "X"], "vae": ["diffusers", "Y"], "text_encoder": ["transformers", "Z"],
             "tokenizer": ["transformers", "T"], "scheduler": ["diffusers", "S"]}
    root.mkdir()
    (root / "model_index.json").write_text(json.dumps(index))
    _write_st(root / "transformer", {"blocks.0.attn.weight": (4, 4), "blocks.1.attn.weight": (4, 4),
                                     "blocks.1.ffn.weight": (4, 2), "patch_embedding.weight": (10,)})
    _write_st(root / "vae", {"decoder.conv.weight": (3, 3)})
    _write_st(root / "text_encoder", {"shared.weight": (20, 5)})
    (root / "transformer" / "config.json").write_text(json.dumps(tcfg))
    (root / "vae" / "config.json").write_text(json.dumps(vcfg))
    return root


def test_from_folder_wan(tmp_path):
    root = _fake(tmp_path, "WanPipeline",
                 {"num_attention_heads": 2, "attention_head_dim": 8, "ffn_dim": 32, "num_layers": 2,
                  "patch_size": [1, 2, 2], "in_channels": 16, "out_channels": 16},
                 {"z_dim": 16, "temperal_downsample": [False, True, True]})
    p = PipelineProfile.from_folder(root)
    assert p.family == "wan" and p.pipeline == "WanPipeline"
    assert p.params == {"transformer": 16 + 16 + 8 + 10, "vae": 9, "text_encoder": 100}
    assert p.block_params == 24 and p.max_tensor_params == 100
    assert (p.hidden_dim, p.ffn_dim, p.num_layers, p.patch) == (16, 32, 2, (1, 2, 2))
    assert (p.vae_spatial, p.vae_temporal, p.text_len, p.cfg_batch) == (8, 4, 512, False)
    assert p.text_to_video and not p.image_to_video and p.i2v_pipeline is None
    assert p.defaults["width"] == 832 and p.vae_dtype == "float32"
    assert p.rules()["size_multiple"] == 16 and p.rules()["frame_step"] == 4
    small = plan(p, width=32, height=32, num_frames=9, device="cpu", free_bytes=8 * GiB)
    assert small.fits and small.strategy.name == "cpu"
    entry = {"video": {"default_width": 32, "default_height": 32, "default_frames": 9, "default_steps": 4}}
    assert PipelineProfile.from_folder(root, entry).defaults["num_frames"] == 9


def test_from_folder_ti2v_and_generic(tmp_path):
    wan22 = _fake(tmp_path, "WanPipeline", {"num_attention_heads": 2, "attention_head_dim": 8,
                                             "patch_size": [1, 2, 2]},
                  {"z_dim": 48, "scale_factor_spatial": 16, "scale_factor_temporal": 4,
                   "temperal_downsample": [False, True, True]}, extra={"expand_timesteps": True})
    p = PipelineProfile.from_folder(wan22)
    assert p.i2v_pipeline == "WanImageToVideoPipeline" and p.image_to_video and p.text_to_video
    assert p.rules()["size_multiple"] == 32 and p.latent_channels == 48
    gen = _fake(tmp_path, "FooVideoPipeline", {"patch_size": 1, "patch_size_t": 2},
                {"spatial_compression_ratio": 16, "temporal_compression_ratio": 8, "latent_channels": 32})
    g = PipelineProfile.from_folder(gen)
    assert g.family == "generic" and (g.vae_spatial, g.vae_temporal, g.patch) == (16, 8, (2, 1, 1))
    assert g.rules()["size_multiple"] == 16 and g.rules()["frame_step"] == 16
    bare = _fake(tmp_path, "BarPipeline", {}, {})
    b = PipelineProfile.from_folder(bare)
    assert (b.vae_spatial, b.vae_temporal, b.patch) == (8, 4, (1, 2, 2))


def test_catalog_wan_counts_match_real_configs():
    pytest.importorskip("diffusers")
    torch = pytest.importorskip("torch")
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    base = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6)
    configs = {
        WAN13: (dict(base, num_attention_heads=12, in_channels=16, out_channels=16, ffn_dim=8960, num_layers=30),
                dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                     temperal_downsample=[False, True, True])),
        WAN5: (dict(base, num_attention_heads=24, in_channels=48, out_channels=48, ffn_dim=14336, num_layers=30),
               dict(base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                    temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
                    out_channels=12, patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4)),
    }
    for model_id, (tcfg, vcfg) in configs.items():
        profile = _profile(model_id)
        with torch.device("meta"):
            tr = WanTransformer3DModel(**tcfg)
            vae = AutoencoderKLWan(**vcfg)
        assert profile.params["transformer"] == sum(p.numel() for p in tr.parameters())
        assert profile.block_params == sum(p.numel() for p in tr.blocks[0].parameters())
        assert profile.params["vae"] == sum(p.numel() for p in vae.parameters())
        assert profile.hidden_dim == tcfg["num_attention_heads"] * 128 and profile.ffn_dim == tcfg["ffn_dim"]
