"""Add `manifest.json` to checkpoint folders saved before manifests existed:
`python assets/write_manifest.py [FOLDER ...]` (default: assets/default).

The folder's files stay byte-identical; the manifest records their sha256 and size, the
tensors of each safetensors file and the model config, so that `load_model` validates them
from now on. Every .json and .safetensors file must parse, and a folder with a ModelConfig
must then load as a model; otherwise the manifest is taken away again and the error shown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.core.checkpoint import load_model, write_manifest

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=[str(HERE / "default")])
    for folder in map(Path, parser.parse_args().folders):
        path = write_manifest(folder)
        try:
            if "d_model" in (read_config(folder) or {}):
                load_model(folder)  # a workbench Model: it must load with the manifest
        except Exception:
            path.unlink()
            raise
        print(f"wrote {path}")


def read_config(folder: Path) -> dict | None:
    import json

    config = folder / "config.json"
    return json.loads(config.read_text()).get("config") if config.exists() else None


if __name__ == "__main__":
    main()
