import os
from pathlib import Path
from model_studio.cli import main
def test_x(settings, monkeypatch, fake_hub, capsys):
    monkeypatch.setenv("MODEL_STUDIO_HOME", settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", settings.hf_cache)
    monkeypatch.setenv("HF_ENDPOINT", settings.hf_endpoint)
    main(["pull", "tiny-org/tiny-llama-GGUF:Q8_0"])
    p = next(Path(settings.hf_cache).glob("models--*/snapshots/*/*.gguf")).resolve()
    os.chmod(p, 0o644)
    d = bytearray(p.read_bytes()); d[100] ^= 0xff; p.write_bytes(bytes(d))
    capsys.readouterr()
    main(["--debug", "verify", "tiny-org/tiny-llama-GGUF"])
    import sys; o, e = capsys.readouterr(); sys.__stdout__.write(o + "\nERR\n" + e)
