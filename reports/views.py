# Temporary: replaced by the Reports work (issue 7).
from django.http import Http404


def overview(request):
    raise Http404
