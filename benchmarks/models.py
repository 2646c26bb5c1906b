"""The table the original durabledict's ModelDict reads, as its README sets it up."""

from django.db import models


class OriginalSetting(models.Model):
    key = models.CharField(max_length=64, unique=True)
    value = models.TextField()

    def __str__(self):
        return self.key
