"""A synthesized cloud assembly (template + staged assets) of the Framelane stack, for the infra tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.app import CDK_JSON, build_app
from infra.stack import FramelaneStack


@dataclass(frozen=True)
class Assembly:
    stack: FramelaneStack
    outdir: Path

    @property
    def template(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.outdir / f"{self.stack.stack_name}.template.json").read_text()
        )
        return data

    def asset_dir(self, code: dict[str, Any]) -> Path:
        """The staged folder that CDK zips and uploads as `code`'s S3 object."""
        manifest = json.loads((self.outdir / f"{self.stack.stack_name}.assets.json").read_text())
        for asset in manifest["files"].values():
            if any(d["objectKey"] == code["S3Key"] for d in asset["destinations"].values()):
                return self.outdir / asset["source"]["path"]
        raise KeyError(code["S3Key"])


def synth(outdir: Path, **context: object) -> Assembly:
    app = App(context={**json.loads(CDK_JSON.read_text())["context"], **context}, outdir=str(outdir))
    _, stack = build_app(app)
    app.synth()
    return Assembly(stack, outdir)
