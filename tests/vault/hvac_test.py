"""The real hvac client against a real credledger server (run by tests/vault_hvac.rs).

Usage: python hvac_test.py URL ADMIN_TOKEN

Each hvac KV v2 call is asserted, then the audit log (GET /v1/audit, admin token) must
show the event of every call. Exits non-zero on the first failed assertion.
"""

import json
import sys
import urllib.request

import hvac
import hvac.exceptions

URL, TOKEN = sys.argv[1], sys.argv[2]
S1, S2, S3 = "hv-secret-Kd83jQ", "hv-secret-rotated-P0zx", "hv-secret-third-W2m"

client = hvac.Client(url=URL, token=TOKEN)
kv = client.secrets.kv.v2
checks = []


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    checks.append(name)
    print(f"ok   {name}")


def raises(name, exc, fn):
    try:
        fn()
    except exc as e:
        check(name, True)
        return e
    except Exception as e:  # noqa: BLE001
        check(name, False, f"expected {exc.__name__}, got {type(e).__name__}: {e}")
    check(name, False, f"expected {exc.__name__}, nothing raised")


# create_or_update_secret: create (cas=0), rotate without cas, rotate with cas, cas conflict.
r = kv.create_or_update_secret(path="app/db", secret={"password": S1, "user": "svc"}, cas=0)
check("create with cas=0", r["data"]["version"] == 1 and r["data"]["destroyed"] is False, r)
check("envelope", all(k in r for k in ("request_id", "lease_id", "lease_duration", "renewable", "data", "warnings")), r)
r = kv.create_or_update_secret(path="app/db", secret={"password": S2, "user": "svc"})
check("update without cas", r["data"]["version"] == 2, r)
r = kv.create_or_update_secret(path="app/db", secret={"password": S3, "user": "svc"}, cas=2)
check("update with cas", r["data"]["version"] == 3, r)
e = raises("cas conflict is InvalidRequest (400)", hvac.exceptions.InvalidRequest,
           lambda: kv.create_or_update_secret(path="app/db", secret={"password": "x"}, cas=1))
check("cas conflict message", "check-and-set parameter did not match the current version" in str(e), str(e))
raises("cas=0 on an existing path is refused", hvac.exceptions.InvalidRequest,
       lambda: kv.create_or_update_secret(path="app/db", secret={"password": "x"}, cas=0))
kv.create_or_update_secret(path="top", secret={"token": "tok-top-1"})

# read_secret_version: latest and by number.
r = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)
check("read latest", r["data"]["data"] == {"password": S3, "user": "svc"} and r["data"]["metadata"]["version"] == 3, r)
r = kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)
check("read version 1", r["data"]["data"]["password"] == S1 and r["data"]["metadata"]["version"] == 1, r)
raises("read a missing path is InvalidPath (404)", hvac.exceptions.InvalidPath,
       lambda: kv.read_secret_version(path="nope", raise_on_deleted_version=True))

# list_secrets.
r = kv.list_secrets(path="")
check("list root", r["data"]["keys"] == ["app/", "top"], r)
r = kv.list_secrets(path="app")
check("list dir", r["data"]["keys"] == ["db"], r)

# read_secret_metadata and update_metadata.
r = kv.read_secret_metadata(path="app/db")
check("metadata", r["data"]["current_version"] == 3 and sorted(r["data"]["versions"]) == ["1", "2", "3"], r)
r = kv.update_metadata(path="app/db", max_versions=5, custom_metadata={"team": "red"})
check("update_metadata is 204", r.status_code == 204, r)
r = kv.read_secret_metadata(path="app/db")
check("metadata updated", r["data"]["max_versions"] == 5 and r["data"]["custom_metadata"] == {"team": "red"}, r)

# delete_latest_version_of_secret: the latest read is now a deleted version.
r = kv.delete_latest_version_of_secret(path="app/db")
check("delete latest is 204", r.status_code == 204, r)
r = kv.read_secret_version(path="app/db", raise_on_deleted_version=False)
check("read deleted latest returns metadata", r["data"]["data"] is None and r["data"]["metadata"]["deletion_time"] != "", r)
raises("read deleted latest raises when asked", hvac.exceptions.InvalidPath,
       lambda: kv.read_secret_version(path="app/db", raise_on_deleted_version=True))

# delete / undelete / destroy specific versions.
kv.delete_secret_versions(path="app/db", versions=[1])
raises("deleted version 1 is not readable", hvac.exceptions.InvalidPath,
       lambda: kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True))
kv.undelete_secret_versions(path="app/db", versions=[1, 3])
r = kv.read_secret_version(path="app/db", version=1, raise_on_deleted_version=True)
check("undeleted version 1 reads again", r["data"]["data"]["password"] == S1, r)
r = kv.read_secret_version(path="app/db", raise_on_deleted_version=True)
check("undeleted latest reads again", r["data"]["data"]["password"] == S3, r)
kv.destroy_secret_versions(path="app/db", versions=[2])
raises("destroyed version 2 is not readable", hvac.exceptions.InvalidPath,
       lambda: kv.read_secret_version(path="app/db", version=2, raise_on_deleted_version=False))
r = kv.read_secret_metadata(path="app/db")
check("metadata shows the destroyed version", r["data"]["versions"]["2"]["destroyed"] is True, r)

# delete_metadata_and_all_versions: the path is gone.
r = kv.delete_metadata_and_all_versions(path="top")
check("delete metadata is 204", r.status_code == 204, r)
raises("deleted path is gone", hvac.exceptions.InvalidPath,
       lambda: kv.read_secret_version(path="top", raise_on_deleted_version=True))
r = kv.list_secrets(path="")
check("list after delete", r["data"]["keys"] == ["app/"], r)

# A wrong token: 403 Forbidden.
bad = hvac.Client(url=URL, token="clt_00000000000000000000000000000000_wrong")
raises("wrong token is Forbidden (403)", hvac.exceptions.Forbidden,
       lambda: bad.secrets.kv.v2.read_secret_version(path="app/db", raise_on_deleted_version=True))

# The audit log shows each call.
req = urllib.request.Request(f"{URL}/v1/audit?limit=1000", headers={"Authorization": f"Bearer {TOKEN}"})
events = json.load(urllib.request.urlopen(req))["events"]
actions = [(e["action"], e["outcome"], e["details"].get("purpose")) for e in events]
count = lambda a, o="ok", p=None: sum(1 for x in actions if x[0] == a and x[1] == o and (p is None or x[2] == p))
check("audit: two creates (app/db, top)", count("created") == 2, actions)
check("audit: two rotations", count("rotated") == 2, actions)
check("audit: every successful read is a vault_read use", count("used", p="vault_read") == 4, actions)
check("audit: refused reads are use_denied", count("use_denied", "denied") == 4, actions)
check("audit: metadata update", count("kv_metadata_set") == 1, actions)
check("audit: two version deletes", count("versions_deleted") == 2, actions)
check("audit: undelete", count("versions_undeleted") == 1, actions)
check("audit: destroy version", count("versions_destroyed") == 1, actions)
check("audit: delete metadata destroys", count("destroyed") == 1, actions)
text = json.dumps(events)
check("audit: no secret value", all(s not in text for s in (S1, S2, S3)), "a secret is in the audit log")
print(f"{len(checks)} checks passed")
