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


def orthanc_binary() -> str | None:
    """The installed Orthanc executable (Debian puts it in /usr/sbin), or None."""
    debian = Path("/usr/sbin/Orthanc")
    return shutil.which(ORTHANC) or (str(debian) if debian.exists() else None)


def orthanc_config(storage: Path, port: int, *, dicomweb: bool = True, users: dict[str, str] | None = None) -> dict:
    """Orthanc on localhost only, no DICOM port, with DICOMweb on /dicom-web/; HTTP basic login only for `users`
    (none by default: nothing outside this host reaches it)."""
    return {"Name": "radsynth-local-pacs", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": port, "DicomPort": 0, "RemoteAccessAllowed": False, "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users or {}, "Plugins": [str(PLUGIN)] if dicomweb else [],
            "DicomWeb": {"Enable": dicomweb, "Root": "/dicom-web/"}}


def missing() -> str | None:
    """What is not installed for a local PACS, or None."""
    if orthanc_binary() is None:
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
    return [orthanc_binary() or ORTHANC, str(config)], f"http://localhost:{port}"


def register_target(env: dict[str, str], base: str) -> None:
    """Add the local Orthanc as push target `orthanc` to the deployment's DICOMweb targets."""
    targets = json.loads(env.get("RADSYNTH_DICOMWEB_TARGETS") or "{}")
    targets.setdefault(TARGET, {"url": f"{base}/dicom-web"})
    env["RADSYNTH_DICOMWEB_TARGETS"] = json.dumps(targets)
