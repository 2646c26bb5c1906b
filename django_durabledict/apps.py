from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DurableDictConfig(AppConfig):
    name = "django_durabledict"
    verbose_name = _("Durable settings")
    default_auto_field = "django.db.models.BigAutoField"
