"""What handlers need arrives through ``Depends``: the service, the settings, the access policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..access import AccessPolicy
from ..config import Settings
from ..service.proctor import ProctorService


def get_service(request: Request) -> ProctorService:
    return request.app.state.service


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_access(request: Request) -> AccessPolicy:
    return request.app.state.access


ServiceDep = Annotated[ProctorService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
AccessDep = Annotated[AccessPolicy, Depends(get_access)]
