"""The thin stack: wires the capability constructs together and applies cdk-nag."""

from __future__ import annotations

from aws_cdk import Annotations, Aspects, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.api import Api
from infra.constructs.broker import REDIS_PORT, Broker
from infra.constructs.functions import FunctionFactory
from infra.constructs.network import Network
from infra.constructs.observability import Observability
from infra.constructs.orchestration import Orchestration
from infra.constructs.storage import Storage
from infra.constructs.transcription import Transcription
from infra.constructs.workers import Workers
from infra.nag import suppress_justified
from infra.packaging import dependencies_layer


class FramelaneStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        name = f"framelane-{config.stage}"
        self.network = Network(self, "Network", config=config)
        self.storage = Storage(self, "Storage", config=config)
        self.broker = Broker(self, "Broker", config=config, network=self.network)
        self.transcription = Transcription(self, "Transcription")
        self.cursor_secret = secretsmanager.Secret(
            self,
            "CursorSecret",
            description="HMAC key for pagination cursors",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )
        self.admin_token = secretsmanager.Secret(
            self,
            "AdminToken",
            description="Operator token for /admin routes (workspace creation)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
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
        environment = {
            "FRAMELANE_TABLE_NAME": self.storage.table.table_name,
            "FRAMELANE_BUCKET": self.storage.bucket.bucket_name,
            "FRAMELANE_REDIS_HOST": self.broker.endpoint,
            "FRAMELANE_REDIS_PORT": str(REDIS_PORT),
            "FRAMELANE_REDIS_AUTH_SECRET_ARN": self.broker.auth.secret_arn,
            "FRAMELANE_CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
            "FRAMELANE_ADMIN_TOKEN_SECRET_ARN": self.admin_token.secret_arn,
            "FRAMELANE_ASSEMBLYAI_SECRET_ARN": self.transcription.assemblyai_key.secret_arn,
            "FRAMELANE_STREAM_PREFIX": f"{name}:tasks",
        }
        functions = FunctionFactory(
            self, config=config, network=self.network, layer=layer, environment=environment
        )
        self.orchestration = Orchestration(
            self, "Orchestration", storage=self.storage, functions=functions, name=name
        )
        worker_environment = {
            **environment,
            "FRAMELANE_TASK_STATE_MACHINE_ARN": self.orchestration.task_machine.state_machine_arn,
            "FRAMELANE_WEBHOOK_STATE_MACHINE_ARN": self.orchestration.webhook_machine.state_machine_arn,
            **config.content_credentials_environment,
        }
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
            environment=worker_environment,
        )
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            api=self.api,
            orchestration=self.orchestration,
            workers=self.workers,
        )
        secrets_readers: list[iam.IGrantable] = [
            self.api.function,
            self.workers.backlog_function,
            self.workers.task_definition.task_role,
            self.orchestration.notify_function,
            self.orchestration.s3_trigger_function,
            *self.orchestration.step_functions.values(),
        ]
        for grantee in secrets_readers:
            self.broker.auth.grant_read(grantee)
        self.cursor_secret.grant_read(self.api.function)
        self.admin_token.grant_read(self.api.function)
        # transcribe: AssemblyAI calls back into the API (the callbacks route), which resumes the Transcribe step
        transcribe = self.orchestration.step_functions["transcribe"]
        transcribe.add_environment("FRAMELANE_CALLBACK_BASE_URL", self.api.url)
        for reader in (transcribe, self.api.function):
            self.transcription.assemblyai_key.grant_read(reader)
        self.orchestration.task_machine.grant_task_response(self.api.function)
        self._content_credentials_grants(config)
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "Bucket", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "AdminTokenSecret", value=self.admin_token.secret_arn)
        CfnOutput(self, "Dashboard", value=f"framelane-{config.stage}")
        Aspects.of(self).add(AwsSolutionsChecks(verbose=True))
        suppress_justified(self)

    def _content_credentials_grants(self, config: StageConfig) -> None:
        """The workers read the operator's C2PA signing secret and may sign with (only) its KMS key."""
        role = self.workers.task_definition.task_role
        if config.c2pa_signing_secret_arn:
            secretsmanager.Secret.from_secret_complete_arn(
                self, "ContentCredentialsSigning", config.c2pa_signing_secret_arn
            ).grant_read(role)
        if config.c2pa_kms_key_arn:
            kms.Key.from_key_arn(self, "ContentCredentialsKey", config.c2pa_kms_key_arn).grant(
                role, "kms:Sign", "kms:GetPublicKey"
            )
