"""Tables as CSV (UTF-8 with a BOM, so Excel opens Chinese correctly) and XLSX."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def flatten(figures: dict) -> dict:
    """Nested figures as flat columns: ``sign_hours_mean``, ``new_by_source_public_tip``."""
    flat = {}
    for name, value in figures.items():
        if isinstance(value, dict):
            for part, inner in value.items():
                flat[f"{name}_{part}"] = inner
        else:
            flat[name] = value
    return flat


def table_response(header: list[str], rows: list[list], fmt: str, filename: str) -> HttpResponse:
    if fmt == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(["" if value is None else value for value in row] for row in rows)
        response = HttpResponse(out.getvalue().encode(), content_type=CSV_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return response
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(filename[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response
