"""Byte sizes: one decimal convention (1 kB = 1000 B, as the Hub shows sizes), the same text from
the Python ``human_size`` (CLI, magics) and the TypeScript ``formatBytes`` (sidebar, widgets)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from model_studio._format import human_rate, human_size

ROOT = Path(__file__).resolve().parents[1]
FORMAT_TS = ROOT / "labextension" / "src" / "components" / "format.ts"
ESBUILD = ROOT / "labextension" / "node_modules" / "esbuild"

# bytes -> the text both front ends print
SIZES = [
    (0, "0 B"),
    (1, "1 B"),
    (999, "999 B"),
    (999.4, "999 B"),
    (999.5, "1.0 kB"),  # rounds up to 1000 B: a kilobyte
    (1000, "1.0 kB"),
    (1050, "1.1 kB"),  # half up, in both languages
    (1250, "1.3 kB"),
    (68_200, "68.2 kB"),
    (68_250, "68.3 kB"),
    (999_949, "999.9 kB"),
    (999_950, "1.0 MB"),  # not "1000.0 kB"
    (1_500_000, "1.5 MB"),
    (1.5e9, "1.5 GB"),
    (2**30, "1.1 GB"),  # a GiB is 1.07 GB
    (13.5e9, "13.5 GB"),
    (1e12, "1.0 TB"),
    (999.95e12, "1.0 PB"),
    (4.2e18, "4200.0 PB"),
    (-68_200, "-68.2 kB"),
]


@pytest.mark.parametrize("n, text", SIZES)
def test_human_size_is_decimal_with_one_rounded_decimal(n, text):
    assert human_size(n) == text


def test_the_engine_and_the_front_doors_share_one_size_formatter():
    # The engine's messages (fit, video plan) and the terminal front doors print sizes alike
    from model_studio.core import units

    assert human_size is units.human_size


@pytest.mark.parametrize("unknown", [None, float("nan"), float("inf")])
def test_an_unknown_size_is_a_dash(unknown):
    assert human_size(unknown) == "-"


def test_a_rate_is_a_size_per_second():
    assert human_rate(68_200) == "68.2 kB/s"
    assert human_rate(0) == human_rate(None) == "-"


def test_the_typescript_formatter_prints_the_same_text():
    # Given format.ts transpiled by the front end's own esbuild, run by node
    node = shutil.which("node")
    if node is None or not ESBUILD.is_dir():
        pytest.skip("needs node and labextension/node_modules (jlpm install)")
    script = """
        const [esbuildPath, tsPath, values] = process.argv.slice(1);
        const source = require('fs').readFileSync(tsPath, 'utf8');
        const { code } = require(esbuildPath).transformSync(source, { loader: 'ts', format: 'cjs' });
        const module = { exports: {} };
        new Function('module', 'exports', code)(module, module.exports);
        const { formatBytes, formatRate } = module.exports;
        console.log(JSON.stringify({
          sizes: JSON.parse(values).map(formatBytes),
          unknown: [null, undefined, NaN, Infinity].map(formatBytes),
          rate: formatRate(68200)
        }));
    """
    values = json.dumps([n for n, _ in SIZES])
    # When it formats every size of the table
    done = subprocess.run([node, "-e", script, str(ESBUILD), str(FORMAT_TS), values],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # Then it prints what human_size prints (the panels mark an unknown size with an em dash)
    assert out["sizes"] == [text for _, text in SIZES] == [human_size(n) for n, _ in SIZES]
    assert out["unknown"] == ["—"] * 4
    assert out["rate"] == human_rate(68_200)
