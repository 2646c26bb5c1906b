"""A long-running command, as in docs/integration.rst: sync before each unit of
work, since no request (and no middleware) runs here."""

from django.core.management.base import BaseCommand

from django_durabledict import dicts


class Command(BaseCommand):
    help = "Print features['flag'] once per iteration (a test stand-in for a worker)."
    stealth_options = ("hook",)

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=1, help="How many.")

    def handle(self, *args, iterations, hook=None, **options):
        for iteration in range(iterations):
            if hook:
                hook(iteration)  # the test changes the store "from another process"
            dicts.sync_all()
            self.stdout.write(str(dicts["features"].get("flag")))
