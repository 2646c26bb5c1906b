# django-durabledict: one dict, "features", stored in DurableSetting rows.
INSTALLED_APPS += ["django_durabledict", "flags"]  # noqa: F821
MIDDLEWARE += ["django_durabledict.middleware.DurableDictSyncMiddleware"]  # noqa: F821
DURABLEDICTS = {
    "features": {
        "DEFAULTS": {"new_checkout": False},
    },
}
