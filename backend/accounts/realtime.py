"""Telling a device's open websockets that it was signed out.

Each websocket joins the group of its device (push/consumers.py). Revoking the
device (logout, an admin's revoke, a refresh token reused) sends one message to
that group after the revocation commits; the consumer closes with 4004. Through
the channel layer, so it reaches a socket held by any daphne process (Redis) or
this one (in-memory layer)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

DEVICE_REVOKED = "device.revoked"  # the consumer's handler: device_revoked()


def device_group(device_pk: int) -> str:
    return f"device.{device_pk}"


def _send_revoked(device_pk: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(device_group(device_pk), {"type": DEVICE_REVOKED, "device_pk": device_pk})
    except Exception:
        # The revocation itself stands (the next token check refuses the device); a
        # channel layer that is down must not turn a committed logout into an error.
        logger.exception("could not tell device %s's websockets it was revoked", device_pk)


def close_device_sockets_on_commit(device_pk: int) -> None:
    """After the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send_revoked(device_pk), robust=True)
