from django.contrib import admin

from carecoord.coordination.models import AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("system", "provider", "metric", "direction", "threshold", "active")
    list_filter = ("active", "direction")
