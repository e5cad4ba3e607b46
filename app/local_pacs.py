"""`radsynth-serve --pacs`: a local Orthanc with DICOMweb beside the service, registered as push target `orthanc`,
so that a newcomer can send results to a PACS and look at them in its viewer without installing anything else
than the Debian packages `orthanc` and `orthanc-dicomweb`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ORTHANC = "Orthanc"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
TARGET = "orthanc"


def orthanc_config(storage: Path, port: int) -> dict:
    """Orthanc on localhost only, no DICOM port, DICOMweb on /dicom-web/ (no login: nothing outside reaches it)."""
    return {"Name": "radsynth-local-pacs", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": port, "DicomPort": 0, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}


def missing() -> str | None:
    """What is not installed for a local PACS, or None."""
    if shutil.which(ORTHANC) is None and not Path("/usr/sbin/Orthanc").exists():
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if not PLUGIN.exists():
        return "Orthanc's DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def orthanc_command(data_dir: Path, port: int) -> tuple[list[str], str]:
    """(command, base URL) of a local Orthanc keeping its files under `data_dir`/orthanc."""
    folder = data_dir / "orthanc"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(folder / "db", port), indent=1))
    binary = shutil.which(ORTHANC) or "/usr/sbin/Orthanc"
    return [binary, str(config)], f"http://localhost:{port}"


def register_target(env: dict[str, str], base: str) -> None:
    """Add the local Orthanc as push target `orthanc` to the deployment's DICOMweb targets."""
    targets = json.loads(env.get("RADSYNTH_DICOMWEB_TARGETS") or "{}")
    targets.setdefault(TARGET, {"url": f"{base}/dicom-web"})
    env["RADSYNTH_DICOMWEB_TARGETS"] = json.dumps(targets)
