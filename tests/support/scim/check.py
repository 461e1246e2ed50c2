"""Runs the published SCIM 2.0 compliance checker (scim2-tester, on the scim2-client
library) against a Tenantry SCIM endpoint, and prints every check that did not pass.

Usage: check.py BASE_URL TOKEN   (exit status 1 when a check is an ERROR or CRITICAL)
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client, resource_types=["User"])
    failed = [r for r in results if r.status in FAILING]
    for r in results:
        if r.status not in {Status.SUCCESS, Status.SKIPPED}:
            print(f"{r.status.name}: {r.title}: {r.reason}")
    passed = sum(r.status == Status.SUCCESS for r in results)
    print(f"scim2-tester: {len(results)} checks, {passed} passed, {len(failed)} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
