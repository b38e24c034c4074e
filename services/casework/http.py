from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.handlers import case_tasks


class TaskView(BaseModel):
    task_id: str
    kind: str
    status: str
    due_at: datetime


def build_http_app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI(title="Safeguarding casework", version="1")

    @app.get("/v1/cases/{case_reference}/tasks", response_model=list[TaskView])
    async def list_case_tasks(case_reference: str) -> list[dict[str, object]]:
        """A case's tasks, soonest due first."""
        return await case_tasks(engine, case_reference)

    return app
