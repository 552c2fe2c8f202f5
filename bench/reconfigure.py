#!/usr/bin/env python3
"""Push a new ECDS resource to a running Envoy by moving a file onto the
watched path, then send the probe notification until the response body changes
from `ok`. Prints one line: the wall-clock push time and the milliseconds from
the move to the first changed response.
"""

import argparse
import http.client
import os
import sys
import time


def post(port, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="Envoy listener port")
    parser.add_argument("--path", required=True, help="webhook path with the token query")
    parser.add_argument("--probe", required=True, help="file with the probe notification")
    parser.add_argument("--next", required=True, help="new resource file, in the watched directory")
    parser.add_argument("--target", required=True, help="the path Envoy watches")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the changed response")
    parser.add_argument("--interval", type=float, default=0.002, help="seconds between probes")
    arguments = parser.parse_args()

    with open(arguments.probe, "rb") as probe_file:
        probe = probe_file.read()

    status, body = post(arguments.port, arguments.path, probe)
    if (status, body) != (200, "ok"):
        sys.exit(f"reconfigure: before the push the probe got {status} {body!r}, expected 200 'ok'")

    pushed_wall = time.time()
    pushed = time.monotonic()
    os.rename(arguments.next, arguments.target)

    polls = 0
    while time.monotonic() - pushed < arguments.timeout:
        polls += 1
        status, body = post(arguments.port, arguments.path, probe)
        if status == 200 and body != "ok":
            elapsed_ms = (time.monotonic() - pushed) * 1000
            print(f"pushed_unix={pushed_wall:.6f} push_to_response_ms={elapsed_ms:.1f} polls={polls} body={body}")
            return
        time.sleep(arguments.interval)

    sys.exit(f"reconfigure: no changed response within {arguments.timeout} s; last {status} {body!r}")


if __name__ == "__main__":
    main()
