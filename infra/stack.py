"""The thin stack: wires the capability constructs together and applies cdk-nag."""

from __future__ import annotations

from aws_cdk import Annotations, Aspects, CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.config import StageConfig
from infra.constructs import access
from infra.constructs.api import Api
from infra.constructs.broker import Broker
from infra.constructs.functions import FunctionFactory
from infra.constructs.network import Network
from infra.constructs.observability import Observability
from infra.constructs.orchestration import Orchestration
from infra.constructs.secrets import generated_secret
from infra.constructs.storage import Storage
from infra.constructs.transcription import Transcription
from infra.constructs.workers import Workers
from infra.nag import suppress_justified
from infra.packaging import dependencies_layer


class FramelaneStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        name = f"framelane-{config.stage}"
        self.network = Network(self, "Network", config=config)
        self.storage = Storage(self, "Storage", config=config)
        self.broker = Broker(self, "Broker", config=config, network=self.network)
        self.transcription = Transcription(self, "Transcription", config=config)
        self.cursor_secret = generated_secret(self, "CursorSecret", "HMAC key for pagination cursors")
        self.admin_token = generated_secret(
            self, "AdminToken", "Operator token for /admin routes (workspace creation)", length=48
        )
        layer_dir, layer_built = dependencies_layer()
        if not layer_built:
            Annotations.of(self).add_warning_v2(
                "framelane:lambda-deps",
                "Lambda dependencies are not built: run `make lambda-deps` before `cdk deploy`.",
            )
        layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            description="Framelane third-party dependencies",
        )
        functions = FunctionFactory(self, config=config, network=self.network, layer=layer)
        self.orchestration = Orchestration(
            self, "Orchestration", config=config, storage=self.storage, functions=functions, name=name
        )
        self.api = Api(
            self,
            "Api",
            config=config,
            functions=functions,
            storage=self.storage,
            orchestration=self.orchestration,
        )
        self.workers = Workers(
            self,
            "Workers",
            config=config,
            network=self.network,
            storage=self.storage,
            orchestration=self.orchestration,
            functions=functions,
            broker=self.broker,
        )
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            api=self.api,
            orchestration=self.orchestration,
            workers=self.workers,
            broker=self.broker,
        )
        # Secrets by need: each process names (and may read) only the secrets its code reads.
        api = self.api.function
        self.broker.connect(api, api, api)  # /healthz probes Redis; cancel flags the task for its worker
        dispatch = self.orchestration.step_functions["dispatch"]
        self.broker.connect(dispatch, dispatch, dispatch)
        access.secret(api, api, "FRAMELANE_CURSOR_SECRET_ARN", self.cursor_secret)
        access.secret(api, api, "FRAMELANE_ADMIN_TOKEN_SECRET_ARN", self.admin_token)
        # transcribe: AssemblyAI calls back into the API (the callbacks route), which resumes the Transcribe step;
        # without a key there is no transcribe Lambda: the GPU workers run the offline engine (Orchestration)
        if self.transcription.assemblyai_key is not None:
            transcribe = self.orchestration.step_functions["transcribe"]
            transcribe.add_environment("FRAMELANE_CALLBACK_BASE_URL", self.api.url)
            for reader in (transcribe, api):
                access.secret(
                    reader, reader, "FRAMELANE_ASSEMBLYAI_SECRET_ARN", self.transcription.assemblyai_key
                )
        self.orchestration.task_machine.grant_task_response(api)
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "Bucket", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "AdminTokenSecret", value=self.admin_token.secret_arn)
        CfnOutput(self, "Dashboard", value=f"framelane-{config.stage}")
        Aspects.of(self).add(AwsSolutionsChecks(verbose=True))
        suppress_justified(self)
