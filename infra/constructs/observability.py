"""Alarms to an SNS topic — DLQ depth, failed executions, stream backlog and its metric going missing, API 5xx,
Lambda errors, Redis memory and evictions, worker tasks that exit on their own — and one dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.api import Api
from infra.constructs.broker import Broker
from infra.constructs.orchestration import Orchestration
from infra.constructs.workers import BACKLOG_METRIC, Workers


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api: Api,
        orchestration: Orchestration,
        workers: Workers,
        broker: Broker,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="Framelane alarm topic")
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant_encrypt_decrypt(iam.ServicePrincipal(service))
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for step, queue in orchestration.dead_letters.items():
            self._alarm(
                f"{step}-dlq",
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
                threshold=1,
                description=f"messages of the {step} step failed 3 times",
                action=action,
            )
        self._alarm(
            "dead-letters",
            cloudwatch.Metric(
                namespace="Framelane",
                metric_name="DeadLetters",
                dimensions_map={"service": "framelane-dead-letter"},
                statistic="Sum",
                period=Duration.minutes(5),
            ),
            threshold=1,
            description="a pipeline step's message failed every delivery (its task was failed): read the logs",
            action=action,
        )
        for name, machine in (
            ("task", orchestration.task_machine),
            ("webhook", orchestration.webhook_machine),
        ):
            self._alarm(
                f"{name}-executions-failed",
                machine.metric_failed(period=Duration.minutes(5)),
                threshold=1 if name == "task" else 10,
                description=f"{name} state machine executions failed",
                action=action,
            )
        self._alarm(
            "stream-backlog",
            BACKLOG_METRIC.with_(period=Duration.minutes(5)),
            threshold=config.workers_max * config.backlog_per_worker * 5,
            description="renderer backlog keeps growing: workers at max or failing",
            action=action,
            evaluation_periods=3,
        )
        self._alarm(
            "stream-backlog-missing",
            BACKLOG_METRIC.with_(statistic="SampleCount", period=Duration.minutes(5)),
            threshold=1,
            description="the backlog metric is missing: the metric Lambda fails, so scaling is blind",
            action=action,
            evaluation_periods=2,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        functions = {
            "api": api.function,
            **orchestration.step_functions,
            "notify": orchestration.notify_function,
            "s3-trigger": orchestration.s3_trigger_function,
            "backlog-metric": workers.backlog_function,
            "dead-letter": orchestration.dead_letter_function,
        }
        for name, function in functions.items():
            self._alarm(
                f"{name}-lambda-errors",
                function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=3,
                description=f"the {name} Lambda raised or timed out 3+ times in 5 minutes",
                action=action,
            )
        primary = f"{broker.replication_group.ref}-001"  # the primary node of the replication group
        for metric_name, threshold, what in (
            (
                "DatabaseMemoryUsagePercentage",
                80,
                "Redis memory above 80 % (streams stop accepting work when full)",
            ),
            ("Evictions", 1, "Redis evicted keys: stream entries or cancel flags may be lost"),
        ):
            self._alarm(
                f"redis-{metric_name.lower()}",
                cloudwatch.Metric(
                    namespace="AWS/ElastiCache",
                    metric_name=metric_name,
                    dimensions_map={"CacheClusterId": primary},
                    statistic="Maximum",
                    period=Duration.minutes(5),
                ),
                threshold=threshold,
                description=what,
                action=action,
            )
        # a worker container that exits by itself (crash, out of memory, failed start) is reported at once;
        # scale-in and deployments stop tasks with another stop code
        events.Rule(
            self,
            "WorkerTaskExits",
            description="renderer worker tasks that stopped on their own",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [workers.cluster.cluster_arn],
                    "lastStatus": ["STOPPED"],
                    "stopCode": ["EssentialContainerExited", "TaskFailedToStart"],
                },
            ),
            targets=[targets.SnsTopic(self.topic)],
        )
        api_sums = {
            name: cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric_name,
                statistic="Sum",
                dimensions_map={"ApiId": api.http_api.api_id},
                period=Duration.minutes(5),
            )
            for name, metric_name in (("errors", "5xx"), ("requests", "Count"))
        }
        rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics=dict(api_sums),
            period=Duration.minutes(5),
            label="5xx %",
        )
        self._alarm(
            "api-5xx-rate",
            rate,
            threshold=1,
            description="more than 1 % of API requests failed with 5xx",
            action=action,
            evaluation_periods=2,
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"framelane-{config.stage}")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and 5xx", left=[api_sums["requests"], api_sums["errors"]], width=12
            ),
            cloudwatch.GraphWidget(title="Renderer backlog", left=[BACKLOG_METRIC], width=12),
            cloudwatch.GraphWidget(
                title="Task executions",
                left=[
                    orchestration.task_machine.metric_started(),
                    orchestration.task_machine.metric_succeeded(),
                    orchestration.task_machine.metric_failed(),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queues",
                left=[
                    q.metric_approximate_number_of_messages_visible()
                    for q in orchestration.dead_letters.values()
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Worker service CPU / memory",
                left=[workers.service.metric_cpu_utilization(), workers.service.metric_memory_utilization()],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12),
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.Metric | cloudwatch.MathExpression,
        *,
        threshold: float,
        description: str,
        action: actions.SnsAction,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = metric.create_alarm(
            self,
            name,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(action)
        self.alarms.append(alarm)
