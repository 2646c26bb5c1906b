import json

from django.shortcuts import render

from django_durabledict import dicts


def index(request):
    """Show every value of dicts["features"], read from the in-process copy."""
    features = dicts["features"]
    values = [(key, json.dumps(value)) for key, value in sorted(features.items())]
    return render(
        request,
        "example/index.html",
        {
            "values": values,
            "new_checkout": features.get("new_checkout", False),
            "max_items": features.get("max_items", 10),
        },
    )
