from django.http import HttpResponse

from django_durabledict import dicts


def checkout(request):
    if dicts["features"]["new_checkout"]:
        return HttpResponse("The new checkout is on.")
    return HttpResponse("The new checkout is off.")
