from django.contrib import admin

from carecoord.core import models


@admin.register(models.Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("ods_code", "name", "kind", "parent")
    list_filter = ("kind",)
    search_fields = ("ods_code", "name")


@admin.register(models.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("ods_code", "name", "organisation")


for model, cols in (
    (models.TreatmentFunction, ("code", "name", "reported_as", "surgical", "version", "confirmed")),
    (models.MainSpecialty, ("code", "name", "version")),
    (models.RttStatus, ("code", "meaning", "clock_effect", "version")),
    (models.ClinicalPriority, ("code", "name", "time_frame_days", "rank", "confirmed", "version")),
    (models.WaitingListType, ("code", "meaning", "admitted", "rtt", "confirmed", "version")),
):
    admin.site.register(model, list_display=cols)


@admin.register(models.RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "roles")
    list_select_related = ("user", "organisation")


@admin.register(models.DataSharingGrant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ("grantor", "grantee", "scope", "starts_on", "ends_on")


@admin.register(models.AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "object_type", "object_id", "actor", "system_job")
    list_filter = ("action", "object_type")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
