"""`carecoord digital_chase`: send due reminders and letters for unanswered digital validation messages
(run from cron, e.g. hourly)."""

import json

from django.core.management.base import BaseCommand

from carecoord.validation import digital


class Command(BaseCommand):
    help = "Send due digital-validation reminders and letters"

    def handle(self, *args, **opts):
        self.stdout.write(json.dumps(digital.chase()))
