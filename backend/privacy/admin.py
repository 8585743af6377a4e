from django.contrib import admin

from backend.privacy.models import PersonalDataRead


@admin.register(PersonalDataRead)
class PersonalDataReadAdmin(admin.ModelAdmin):
    list_display = ("at", "reader", "subject_kind", "subject_id", "endpoint", "fields")
    list_filter = ("subject_kind",)
    search_fields = ("subject_id", "reader__username", "endpoint")
    date_hierarchy = "at"

    # The log is evidence: nobody edits or deletes it by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
