from django.contrib import admin

from backend.stats.models import ColourChange, ColourRule, Rating, Scheme, UnitColour


@admin.register(ColourRule)
class ColourRuleAdmin(admin.ModelAdmin):
    list_display = ("rule", "colour", "threshold", "enabled")
    list_filter = ("rule", "enabled")


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ("name", "start", "end")


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("scheme", "rater_kind", "rater_id", "target", "street_id", "department_id", "platform_id", "grade")
    list_filter = ("scheme", "target", "grade")


@admin.register(UnitColour)
class UnitColourAdmin(admin.ModelAdmin):
    list_display = ("unit_kind", "unit_id", "colour", "since")
    list_filter = ("unit_kind", "colour")


@admin.register(ColourChange)
class ColourChangeAdmin(admin.ModelAdmin):
    list_display = ("unit_kind", "unit_id", "previous", "colour", "changed_at")
    list_filter = ("unit_kind", "colour")
