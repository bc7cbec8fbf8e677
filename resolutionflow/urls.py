from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from api import oidc
from api import views as api_views
from api.urls import urls as api_urls
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
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, extra_context={"sso": views.SsoContext()}
        ),
        name="login",
    ),
    path("accounts/profile/", api_views.profile, name="profile"),
    path("accounts/tokens/", api_views.token_new, name="token-new"),
    path(
        "accounts/tokens/<int:token_id>/revoke/", api_views.token_revoke_view, name="token-revoke"
    ),
    path(
        "oidc/login/",
        login_not_required(oidc.AuthenticationRequestView.as_view()),
        name="oidc-login",
    ),
    path("oidc/callback/", login_not_required(oidc.CallbackView.as_view()), name="oidc-callback"),
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
    path("api/v1/", api_urls),
    path("admin/", admin.site.urls),
]
