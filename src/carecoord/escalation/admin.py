from django.contrib import admin

from carecoord.escalation.models import ActionCard, ServiceHours, Shift, SitrepSchedule


@admin.register(ActionCard)
class ActionCardAdmin(admin.ModelAdmin):
    list_display = ("title", "level", "pillar", "system", "confirmed", "active")
    list_filter = ("level", "pillar", "confirmed", "active")


@admin.register(ServiceHours)
class ServiceHoursAdmin(admin.ModelAdmin):
    list_display = ("system", "days", "starts", "ends")


@admin.register(SitrepSchedule)
class SitrepScheduleAdmin(admin.ModelAdmin):
    list_display = ("system", "at", "notify")


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ("system", "user", "role", "starts_at", "ends_at")
    list_filter = ("system",)
