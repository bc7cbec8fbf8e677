from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from resolutionflow import views
from resolutionflow.forms import AdminLoginForm, LoginForm
from sessions.views.home import home

handler400 = "resolutionflow.views.bad_request"
handler500 = "resolutionflow.views.server_error"
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("trees/", include("trees.urls")),
    path("sessions/", include("sessions.urls")),
    path("reports/", include("reports.urls")),
    path("integrations/", include("integrations.urls")),
    path("admin/", admin.site.urls),
]
