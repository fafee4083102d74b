"""What handlers need arrives through ``Depends``: the service and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..service.sessions import ProctorService


def get_service(request: Request) -> ProctorService:
    return request.app.state.service


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[ProctorService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
