"""ACME (RFC 8555) for load: JWS signing, nonce pool, client, challenge
responders and the enrollment flow the ``acme-enroll`` pack runs."""

from fleetload.protocols.acme.client import AcmeClient, Directory
from fleetload.protocols.acme.flow import Enrollment, EnrollmentConfig
from fleetload.protocols.acme.jws import KEY_TYPES, AccountKey
from fleetload.protocols.acme.metrics import AcmeMetrics
from fleetload.protocols.acme.nonces import NoncePool
from fleetload.protocols.acme.problems import AcmeError, Problem, ProblemError, ProtocolError

__all__ = ["KEY_TYPES", "AccountKey", "AcmeClient", "AcmeError", "AcmeMetrics", "Directory",
           "Enrollment", "EnrollmentConfig", "NoncePool", "Problem", "ProblemError",
           "ProtocolError"]
