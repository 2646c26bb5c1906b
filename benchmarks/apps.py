from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Holds the model the original durabledict's ModelDict is bound to."""

    name = "benchmarks"
    label = "benchmarks"
    default_auto_field = "django.db.models.BigAutoField"
