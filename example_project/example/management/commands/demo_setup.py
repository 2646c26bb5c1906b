"""Create the demo users and values; print the passwords (new ones each run)."""

import secrets

from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand

from django_durabledict import dicts

DEMO_VALUES = {"banner": "Hello from the database!", "new_checkout": False}


class Command(BaseCommand):
    help = "Create the demo admin and view-only users and store the demo values."

    def handle(self, *args, **options):
        admin_password = self.user("admin", superuser=True)
        viewer_password = self.user("viewer", superuser=False)
        features = dicts["features"]
        for key, value in DEMO_VALUES.items():
            features.setdefault(key, value)  # keeps what you changed last time
        self.stdout.write(f"Admin user: admin  password: {admin_password}")
        self.stdout.write(f"View-only user: viewer  password: {viewer_password}")

    def user(self, username, superuser):
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        if not superuser:
            user.user_permissions.set(
                Permission.objects.filter(codename="view_durablesetting")
            )
        return password
