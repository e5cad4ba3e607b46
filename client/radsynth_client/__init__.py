"""Python client of the RadSynth service."""

from radsynth_client.client import Client
from radsynth_client.errors import JobFailed, RadSynthError
from radsynth_client.types import Artifact, Dataset, Job, JobError, Progress

__all__ = ["Artifact", "Client", "Dataset", "Job", "JobError", "JobFailed", "Progress", "RadSynthError"]
__version__ = "0.1.0"
