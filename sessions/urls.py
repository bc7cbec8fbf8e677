from django.urls import path

from sessions.views import exports, history, navigation, styles

app_name = "sessions"

urlpatterns = [
    # history.py: the history page, closing from its popover, completing from the dialog
    path("", history.history, name="history"),
    path("<uuid:session_id>/close/form", history.close_form, name="close-form"),
    path("<uuid:session_id>/close", history.close, name="close"),
    path("<uuid:session_id>/complete", history.complete, name="complete"),
    # styles.py: the outcome badges' colours
    path("outcomes.css", styles.outcome_styles, name="outcome-styles"),
    # navigation.py: starting, stepping, the detail page
    path("prepare/", navigation.prepare, name="prepare"),
    path("start/<slug:slug>/", navigation.start, name="start"),
    path("<uuid:session_id>/", navigation.detail, name="detail"),
    path("<uuid:session_id>/start", navigation.begin, name="begin"),
    path("<uuid:session_id>/run/", navigation.run, name="run"),
    path("<uuid:session_id>/answer", navigation.answer, name="answer"),
    path("<uuid:session_id>/done", navigation.done, name="done"),
    path("<uuid:session_id>/back", navigation.back, name="back"),
    path("<uuid:session_id>/notes", navigation.notes, name="notes"),
    path("<uuid:session_id>/scratchpad", navigation.scratchpad, name="scratchpad"),
    path("<uuid:session_id>/pause", navigation.pause, name="pause"),
    path("<uuid:session_id>/resume", navigation.resume, name="resume"),
    path("<uuid:session_id>/hand-off", navigation.hand_off, name="hand-off"),
    path("<uuid:session_id>/edit", navigation.edit_details, name="edit"),
    # exports.py: ticket notes in six formats, manager CSV downloads
    path("<uuid:session_id>/export/<str:fmt>", exports.export, name="export"),
    path("export/sessions.csv", exports.history_csv, name="history-csv"),
    path("export/steps.csv", exports.steps_csv, name="steps-csv"),
]
