"""Username/password login with lockout after repeated failures."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone

from carecoord.core.models import User


class AccountLocked(Exception):
    pass


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses a locked account and counts failures.

    After LOGIN_MAX_FAILURES failures in a row the account is locked for LOGIN_LOCKOUT_MINUTES,
    even for the right password; a success resets the count."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            User().set_password(password)  # equal time for unknown users
            return None
        now = timezone.now()
        if user.locked_until and user.locked_until > now:
            if request is not None:
                request.login_locked = True
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            if user.failed_logins or user.locked_until:
                User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
            return user
        failures = user.failed_logins + 1
        locked_until = None
        if failures >= settings.LOGIN_MAX_FAILURES:
            locked_until = now + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
            failures = 0
            if request is not None:
                request.login_locked = True
        User.objects.filter(pk=user.pk).update(failed_logins=failures, locked_until=locked_until)
        return None
