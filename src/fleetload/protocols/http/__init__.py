"""fleetload's HTTP/1.1 client: httptools on uvloop, keep-alive pool per origin."""

from fleetload.protocols.http.client import HttpClient
from fleetload.protocols.http.errors import ErrorClass
from fleetload.protocols.http.response import Headers, Response, Timings

__all__ = ["ErrorClass", "Headers", "HttpClient", "Response", "Timings"]
