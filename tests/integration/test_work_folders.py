"""Work folders never outlive their jobs: a training run's checkpoint folder (`runs/<id>`) and a killed delivery's
temporary folder (`tmp/<id>-*`) are removed once the job has ended or was deleted, and kept while it may resume."""

from __future__ import annotations

from tests.integration.conftest import headers, wait_job


def test_folders_of_ended_deleted_and_dead_jobs_are_swept(client, service):
    from core.jobs import JobStore, runner_id
    from core.settings import get_settings
    from worker.tasks import sweep_work_folders

    settings = get_settings()
    store = JobStore.from_url(settings.redis_url)
    ended = wait_job(client, client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=headers())
                     .json()["id"])
    deleted = wait_job(client, client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=headers())
                       .json()["id"])
    assert client.delete(f"/jobs/{deleted['id']}", headers=headers()).status_code == 204
    waiting, _ = store.create("train", "sweeper", {"name": "x"})  # queued (as after a requeue): may resume
    running, _ = store.create("train", "sweeper", {"name": "y"})
    store.r.zrem("radsynth:queued:train", waiting.id, running.id)  # no worker may pick these up
    store.start(running.id, runner=runner_id())  # this live process runs it
    folders = {
        "runs_ended": settings.data_dir / "runs" / ended["id"],
        "runs_deleted": settings.data_dir / "runs" / deleted["id"],
        "tmp_deleted": settings.data_dir / "tmp" / f"{deleted['id']}-abc",
        "runs_waiting": settings.data_dir / "runs" / waiting.id,
        "tmp_waiting": settings.data_dir / "tmp" / f"{waiting.id}-dead",
        "runs_running": settings.data_dir / "runs" / running.id,
        "tmp_running": settings.data_dir / "tmp" / f"{running.id}-live",
        "tmp_upload": settings.data_dir / "tmp" / "tmpupload123",
    }
    for folder in folders.values():
        (folder / "inside").mkdir(parents=True)
    sweep_work_folders()
    kept = {name for name, folder in folders.items() if folder.exists()}
    assert kept == {"runs_waiting", "runs_running", "tmp_running", "tmp_upload"}, kept
    for job in (waiting, running):
        store.delete(job.id, "sweeper")
    sweep_work_folders(stray_age=0)
    assert not any(folder.exists() for folder in folders.values())
