"""A toy job kind, registered in a few lines: the test that adding a kind needs one handler and one entry.

The integration services load it through RADSYNTH_KIND_MODULES (tests/integration/conftest.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.kinds import JobKindSpec, register


class EchoParams(BaseModel):
    text: str = Field(..., min_length=1, max_length=200, description="what to echo")
    times: int = Field(1, ge=1, le=5, description="how many lines")


def run(ctx) -> tuple[dict, list]:
    """Writes the text `times` times into echo.txt, reporting progress per line."""
    p = EchoParams.model_validate(ctx.job.params)
    lines = []
    for i in range(p.times):
        ctx.progress(i, p.times, "echoing")
        lines.append(p.text)
    (ctx.workdir / "echo.txt").write_text("\n".join(lines) + "\n")
    return {"lines": len(lines), "owner_sees": p.text}, ctx.store(["echo.txt"])


register(JobKindSpec(name="echo", params=EchoParams, queue="interactive", handler=f"{__name__}:run",
                     summary="echoes text (a test kind)"))
