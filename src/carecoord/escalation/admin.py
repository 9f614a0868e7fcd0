from django.contrib import admin

from carecoord.escalation.models import ActionCard, ServiceHours


@admin.register(ActionCard)
class ActionCardAdmin(admin.ModelAdmin):
    list_display = ("title", "level", "pillar", "system", "confirmed", "active")
    list_filter = ("level", "pillar", "confirmed", "active")


@admin.register(ServiceHours)
class ServiceHoursAdmin(admin.ModelAdmin):
    list_display = ("system", "days", "starts", "ends")
