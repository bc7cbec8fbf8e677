# Temporary: replaced by the Sessions work (issue 4).
from django.http import Http404


def history(request):
    raise Http404


def prepare(request):
    raise Http404


def detail(request, session_id):
    raise Http404


def run(request, session_id):
    raise Http404


def complete(request, session_id):
    raise Http404
