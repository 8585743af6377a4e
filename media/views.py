"""The file behind a signed URL: checked again against the viewer's scope."""

from django.http import FileResponse, HttpRequest, JsonResponse

from backend.accounts.models import User
from backend.core.errors import ApiError, register
from media.selectors import access_photo, verify_url_token
from media.services import storage

register("url_expired", 410, "链接已过期，请重新获取", "The link has expired; ask for a new one")


def photo_file(request: HttpRequest, token: str):
    try:
        photo_id, variant, user_id = verify_url_token(token)
        user = User.objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            raise ApiError("not_found")
        photo = access_photo(user, photo_id, variant=variant)
    except ApiError as error:
        return JsonResponse(error.body(), status=error.status, json_dumps_params={"ensure_ascii": False})
    key = {"thumb": photo.thumb_key, "display": photo.display_key, "original": photo.original_key}[variant]
    content_type = (
        "image/jpeg"
        if variant != "original"
        else {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}[photo.format]
    )
    response = FileResponse(storage().open(key, "rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
