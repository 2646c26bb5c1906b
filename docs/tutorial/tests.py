from django.test import TestCase

from django_durabledict.testing import override_durabledict


class CheckoutTests(TestCase):
    def test_off_by_default(self):
        self.assertContains(self.client.get("/"), "is off")

    @override_durabledict("features", new_checkout=True)
    def test_on(self):
        self.assertContains(self.client.get("/"), "is on")
