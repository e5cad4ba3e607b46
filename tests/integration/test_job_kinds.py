"""Job kinds come from one registry: a toy kind (echo_kind.py, a handler and one register call) runs through the
real API and a real worker like the built-in ones, and the registry drives the API's lists."""

from __future__ import annotations

from tests.integration.conftest import headers, wait_job


def test_a_registered_toy_kind_runs_through_the_api_and_a_worker(client):
    kinds = {k["name"]: k for k in client.get("/kinds", headers=headers()).json()}
    assert {"generate", "explain", "train", "echo"} <= set(kinds)
    assert kinds["echo"]["route"] == "/kinds/echo/jobs" and kinds["generate"]["route"] == "/generate"
    assert kinds["echo"]["parameters"]["properties"]["times"]["maximum"] == 5
    r = client.post("/kinds/echo/jobs", json={"text": "hello", "times": 3}, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded" and job["kind"] == "echo" and job["result"]["lines"] == 3
    text = client.get(f"/jobs/{job['id']}/artifacts/echo.txt", headers=headers()).text
    assert text == "hello\nhello\nhello\n"
    # the kind's jobs belong to their owner and are listed by kind like any other
    assert client.get(f"/jobs/{job['id']}", headers=headers("bob")).status_code == 404
    listed = client.get("/jobs?kind=echo", headers=headers()).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_kind_parameters_and_names_are_checked_with_the_fix(client):
    bad = client.post("/kinds/echo/jobs", json={"text": "hi", "times": 9}, headers=headers())
    assert bad.status_code == 422 and "times" in bad.json()["error"]["message"]
    unknown = client.post("/kinds/nope/jobs", json={}, headers=headers())
    assert unknown.status_code == 404 and "echo" in unknown.json()["error"]["message"]
    own_route = client.post("/kinds/generate/jobs", json={"finding": "mass"}, headers=headers())
    assert own_route.status_code == 422 and "POST /generate" in own_route.json()["error"]["message"]
    listing = client.get("/jobs?kind=nope", headers=headers())
    assert listing.status_code == 422 and "generate" in listing.json()["error"]["message"]


def test_formats_are_a_list_and_both_keeps_its_meaning(client):
    listed = client.post("/generate?finding=mass&n=1&steps=2&qc=false&format=png,dicom", headers=headers()).json()
    assert listed["params"]["format"] == ["png", "dicom"]
    both = client.post("/generate?finding=mass&n=1&steps=2&qc=false&format=both", headers=headers()).json()
    assert both["params"]["format"] == ["png", "dicom"]
    repeated = client.post("/generate?finding=mass&n=1&steps=2&qc=false&format=dicom&format=png",
                           headers=headers()).json()
    assert repeated["params"]["format"] == ["dicom", "png"]
    job = wait_job(client, listed["id"])
    names = {a["name"] for a in job["artifacts"]}
    assert any(n.endswith(".png") and "seed" in n for n in names) and any(n.endswith(".dcm") for n in names)
    volume = client.post("/generate?model=tiny-3d&finding=hyperplasia&n=1&steps=2&format=both",
                         headers=headers()).json()
    assert volume["params"]["format"] == ["nifti", "dicom"]
    refused = client.post("/generate?finding=mass&format=png,tiff", headers=headers())
    assert refused.status_code == 422 and "'png', 'dicom'" in refused.json()["error"]["message"]
    for made in (both, repeated, volume):  # leave the shared worker idle for the tests that follow
        assert wait_job(client, made["id"])["status"] == "succeeded"
