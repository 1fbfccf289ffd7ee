"""pytest plugin: hvac's own KV v2 integration tests against a running credledger.

Loaded by tests/vault_hvac_suite.rs as ``pytest -p hvac_suite_harness`` with the working
directory at the root of hvac's extracted source distribution, so ``tests.utils`` and
``tests.integration_tests...test_kv_v2`` are hvac's files, unchanged.

Environment: ``CREDLEDGER_URL`` (``http://127.0.0.1:PORT``, a server started with
``--vault-mount kvv2``), ``CREDLEDGER_TOKEN`` (its bootstrap system-admin token).

What this harness replaces, and nothing else:

* hvac's Vault server process (``HvacIntegrationTestCase.setUpClass``/``tearDownClass``
  start ``vault server`` with TLS and unseal it): credledger is already running; the
  class's ``manager`` is a stand-in with the client and root token.
* ``vault -version`` (hvac's tests ask the binary which Vault they run against): the
  ``version`` field of credledger's own ``GET /v1/sys/health``.
* ``sys.enable_secrets_engine`` / ``sys.disable_secrets_engine``, which the test class calls
  in ``setUp``/``tearDown`` for a clean ``kvv2/`` mount per test. credledger serves one
  mount in every tenant, so *enable* creates a fresh tenant (``POST /v1/tenants`` with the
  system-admin token) and points the client at its admin token: the mount is empty and has
  the default configuration. *Disable* points the client back at the root token (the
  tenant stays, unreachable to the next test).

Everything else, including the ``sys/mounts`` wait loop of ``setUp``, talks to credledger
as hvac would talk to Vault.
"""

import json
import os
import urllib.request

import hvac
import hvac.api.system_backend.mount as hvac_mount

import tests.utils
from tests.utils import hvac_integration_test_case

URL = os.environ["CREDLEDGER_URL"]
ROOT_TOKEN = os.environ["CREDLEDGER_TOKEN"]
MOUNT = "kvv2"


def _vault_version():
    with urllib.request.urlopen(f"{URL}/v1/sys/health") as r:
        return json.load(r)["version"]


_VERSION = _vault_version()


def _version_string():
    return _VERSION


tests.utils.get_vault_version_string = _version_string


class _Manager:
    """Stands in for hvac's ServerManager: the running credledger and its root token."""

    def __init__(self):
        self.root_token = ROOT_TOKEN
        self.client = hvac.Client(url=URL, token=ROOT_TOKEN)

    def stop(self):
        pass


def _set_up_class(cls):
    cls.manager = _Manager()


def _tear_down_class(cls):
    cls.manager = None


hvac_integration_test_case.HvacIntegrationTestCase.setUpClass = classmethod(_set_up_class)
hvac_integration_test_case.HvacIntegrationTestCase.tearDownClass = classmethod(_tear_down_class)

_tenants = [0]


def _enable_secrets_engine(self, backend_type, path=None, options=None, **_kwargs):
    """A clean KV v2 mount: a fresh tenant whose admin token the client now uses."""
    assert backend_type == "kv" and path == MOUNT, (backend_type, path)
    assert str((options or {}).get("version")) == "2", options
    _tenants[0] += 1
    req = urllib.request.Request(
        f"{URL}/v1/tenants",
        data=json.dumps({"name": f"hvac-suite-{os.getpid()}-{_tenants[0]}"}).encode(),
        headers={"Authorization": f"Bearer {ROOT_TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as r:
        self._adapter.token = json.load(r)["admin_token"]


def _disable_secrets_engine(self, path):
    assert path == MOUNT, path
    self._adapter.token = ROOT_TOKEN


hvac_mount.Mount.enable_secrets_engine = _enable_secrets_engine
hvac_mount.Mount.disable_secrets_engine = _disable_secrets_engine
