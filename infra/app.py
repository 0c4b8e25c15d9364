"""`python -m infra.app` (or `cdk synth`): the Framelane stack for the stage in CDK context."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, Environment

from infra.config import StageConfig
from infra.stack import FramelaneStack

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def build_app(app: App | None = None) -> tuple[App, FramelaneStack]:
    """The app with cdk.json's context, so `python -m infra.app` and `cdk synth` produce the same template."""
    app = app or App(
        context=json.loads(CDK_JSON.read_text())["context"], outdir=os.environ.get("CDK_OUTDIR", "cdk.out")
    )
    context = {key: app.node.try_get_context(key) for key in StageConfig.model_fields}
    config = StageConfig.from_context({k: v for k, v in context.items() if v is not None})
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    stack = FramelaneStack(app, f"Framelane-{config.stage}", config=config, env=env)
    return app, stack


if __name__ == "__main__":
    build_app()[0].synth()
