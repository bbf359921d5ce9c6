"""`python -m workbench export`: copy, zip, merge or publish an adapter.

    python -m workbench export --adapter runs/abc/adapter --out exported [--model M] [--zip] [--merge]
        [--push-to-hub your-name/repo] [--json]

Writes OUT/adapter/ (the standard PEFT files), OUT/adapter.zip with --zip, and OUT/merged/ (the base model
with the adapter folded in, safetensors + tokenizer) with --merge (needs --model). --push-to-hub uploads
OUT/merged when merging, else OUT/adapter; the token comes from the HF_TOKEN environment variable only.
"""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="zip, merge or push an adapter",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="base model (needed for --merge; otherwise checks the adapter fits it)")
    p.add_argument("--adapter", required=True, metavar="DIR", help="adapter folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--zip", action="store_true", help="also write OUT/adapter.zip")
    p.add_argument("--merge", action="store_true", help="also write OUT/merged (base + adapter merged)")
    p.add_argument("--push-to-hub", metavar="REPO", help="upload to this Hub repo (token from HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="create the Hub repo as private")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import os
    import shutil
    from pathlib import Path

    from workbench.core.export import sharing as export
    from workbench.core.model import adapter_files
    from workbench.errors import WorkbenchError
    if args.merge and not args.model:
        raise WorkbenchError("cli.merge_needs_model")
    if args.push_to_hub:  # fail before a long merge if the upload cannot work
        export.check_push_ready(args.push_to_hub, os.environ.get("HF_TOKEN"))
    info = adapter_files.validate_adapter(args.adapter, args.model)
    out = Path(args.out)
    adapter_out = out / "adapter"
    adapter_out.mkdir(parents=True, exist_ok=True)
    for name in adapter_files.STANDARD_FILES + (adapter_files.LEGACY_WEIGHTS_FILE,):
        if (Path(info.path) / name).is_file():
            shutil.copyfile(Path(info.path) / name, adapter_out / name)
    result = {"adapter": str(adapter_out), "zip": None, "merged": None, "pushed": None}
    if args.zip:
        result["zip"] = export.zip_adapter(info.path, str(out / "adapter.zip"))
    if args.merge:
        result["merged"] = export.merge_and_save(args.model, info.path, str(out / "merged"))
    if args.push_to_hub:
        folder = result["merged"] or str(adapter_out)
        result["pushed"] = export.push_to_hub(folder, args.push_to_hub, os.environ.get("HF_TOKEN"),
                                              private=args.private)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            if v:
                print(f"{k}: {v}")
    return 0
