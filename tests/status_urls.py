"""URLs of the status tests: the admin, and the health view as a user routes it."""

from django.contrib import admin
from django.urls import path

from django_durabledict.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz/", health),
]
