"""Models the tests bind ModelDict to, standing in for a user's own model."""

from django.db import models


class Setting(models.Model):
    """A user's own settings table, as the original durabledict expected."""

    key = models.CharField(max_length=255, unique=True)
    value = models.TextField()

    def __str__(self):
        return self.key


class RenamedSetting(models.Model):
    """Columns named differently, for ``key_col``/``value_col``."""

    name = models.CharField(max_length=255, unique=True)
    payload = models.TextField()

    def __str__(self):
        return self.name
