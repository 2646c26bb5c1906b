from django.contrib import admin
from django.urls import path
from flags.views import checkout

urlpatterns = [
    path("", checkout),
    path("admin/", admin.site.urls),
]
