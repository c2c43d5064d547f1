"""What functions read at run time and ops change without a deploy: Secrets Manager secrets and AppConfig
feature flags."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from infra.constructs.audit import accept
from infra.constructs.common import ack, pascal
from infra.declaration import Secret
from shared.core.config import Env

ROOT = Path(__file__).resolve().parents[2]


class Settings(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, secrets: tuple[Secret, ...], stack_name: str) -> None:
        super().__init__(scope, construct_id)
        self.stack_name = stack_name
        self.secrets = {s.name: self._secret(s.name, s.description, s.generated) for s in secrets}
        self.flag_envs: dict[str, appconfig.Environment] = {}
        self.flag_env_vars: dict[str, dict[str, str]] = {}

    def _secret(self, name: str, description: str, generated: bool) -> sm.Secret:
        if generated:  # our own key: Secrets Manager generates it, so no value is ever in the template
            generator = sm.SecretStringGenerator(
                secret_string_template="{}", generate_string_key="key", password_length=64,
                exclude_punctuation=True,
            )
            why = ("The cursor key only signs page cursors; rotating it ends live cursors (clients restart "
                   "from page one), so ops rotate it by hand (runbook).")
        else:
            # No value in the template: a random marker that ops overwrite (runbook: 'Fill the secrets').
            generator = sm.SecretStringGenerator(
                secret_string_template=json.dumps({"status": "UNSET: put-secret-value per docs/runbook.md"}),
                generate_string_key="unset_marker",
                exclude_punctuation=True,
            )
            why = ("Provider credentials are rotated in the provider's console and pasted by ops (runbook); "
                   "Secrets Manager cannot rotate third-party keys on its own.")
        secret = sm.Secret(
            self,
            pascal(name) + "Secret",
            description=description,
            generate_secret_string=generator,
            removal_policy=RemovalPolicy.RETAIN,
        )
        ack(secret, "AwsSolutions-SMG4", why)
        accept(secret, "secret")
        return secret

    def feature_flags(self, name: str) -> appconfig.Environment:
        """The AppConfig environment of `name`'s flags; the initial document is the one the local runtime
        reads (shared/<name>/flags/local_flags.json). Created on first use, once."""
        if name in self.flag_envs:
            return self.flag_envs[name]
        app = appconfig.Application(self, f"{pascal(name)}FlagsApp", application_name=f"{self.stack_name}-{name}")
        env = appconfig.Environment(self, f"{pascal(name)}FlagsEnv", application=app, environment_name="live")
        source = ROOT / "shared" / name / "flags" / "local_flags.json"
        config = appconfig.HostedConfiguration(
            self, f"{pascal(name)}FlagsConfig", application=app, name="feature-flags",
            content=appconfig.ConfigurationContent.from_inline_json(source.read_text()),
            deployment_strategy=appconfig.DeploymentStrategy(
                self, f"{pascal(name)}FlagsRollout",
                rollout_strategy=appconfig.RolloutStrategy.ALL_AT_ONCE,
            ),
            deploy_to=[env],
        )
        self.flag_envs[name] = env
        self.flag_env_vars[name] = {
            Env.APPCONFIG_APPLICATION: app.application_id,
            Env.APPCONFIG_ENVIRONMENT: env.environment_id,
            Env.APPCONFIG_PROFILE: config.configuration_profile_id,
        }
        return env
