from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class DurableDictConfig(AppConfig):
    name = "django_durabledict"
    verbose_name = _("Durable settings")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at module level: the app registry must be ready first.
        from django_durabledict import checks as durabledict_checks
        from django_durabledict import signals

        signals.connect()

        for check in (
            durabledict_checks.check_settings_shape,
            durabledict_checks.check_backends,
            durabledict_checks.check_entry_keys,
            durabledict_checks.check_backend_config,
            durabledict_checks.check_encodings,
            durabledict_checks.check_value_types,
            durabledict_checks.check_pickle,
            durabledict_checks.check_middleware,
            durabledict_checks.check_push_channel,
        ):
            checks.register(check, "durabledict")
        checks.register(
            durabledict_checks.check_token_cache, "durabledict", "caches", deploy=True
        )
        # Connects to the server: only under check --deploy, like W001.
        checks.register(
            durabledict_checks.check_push_reachable, "durabledict", deploy=True
        )
