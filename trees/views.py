# Temporary: replaced by the Trees work (issue 3).
from django.http import Http404


def library(request):
    raise Http404


def detail(request, slug):
    raise Http404
