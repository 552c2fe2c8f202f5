#!/usr/bin/env python3
"""Generate the plugin configurations, Envoy bootstraps and wrk script that
scripts/bench.sh runs.

Every generated rule set contains the same two rules that match the benchmark
notification, so cases with 10 and with 100,000 rules return the same response
body and differ only in the number of rules:

- the site rule for site-7.example.net, a one-off window from 2020 to 2099,
  which makes the response body a timestamp (now + max_suppression_seconds);
- the recurring rule for the host slug host-0, Sundays 02:00 to 04:00 in
  Europe/Berlin, which the filter expands on every notification.

Only the Python standard library is used, so a fresh clone needs no packages.
"""

import argparse
import datetime
import json
import sys

WEBHOOK_PATH = "/jetpack/monitor"
TOKEN = "bench-token"
PASS_THROUGH_PATH = "/app/page"
# The notification the benchmark sends to every case, slashes escaped as
# Jetpack Monitor sends them.
NOTIFICATION = (
    '{"ts":1385139152,"url":"https:\\/\\/site-7.example.net\\/","code":503,'
    '"host":"host-0","type":"http"}'
)
# A notification that only the 100,000-rule set suppresses: the reconfiguration
# measurement polls with it until the response body changes from `ok`.
PROBE_NOTIFICATION = (
    '{"ts":1385139152,"url":"https:\\/\\/site-99999.example.net\\/","code":503,'
    '"host":"host-999","type":"http"}'
)
# Same length as the filter's timestamp, so case a sends as many bytes back.
DIRECT_RESPONSE_BODY = "2026-12-05T03:00:00Z"
MATCHED_SITE = 7

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Europe/London",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Africa/Cairo",
    "Asia/Tehran",
]
WEEKDAY_SETS = [["monday:friday"], ["saturday", "sunday"], ["tuesday"], ["monday", "thursday"]]
FIRST_DAY = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def rfc3339(instant):
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def site_rule(number):
    """Return site rule `number`. Most name one host, one in ten is a
    wildcard, one in ten has a path, as a hosting company's rules would."""
    if number == MATCHED_SITE:
        return {
            "id": f"site-{number}",
            "comment": "matches the benchmark notification",
            "sites": [f"site-{number}.example.net"],
            "start": "2020-01-01T00:00:00Z",
            "end": "2099-01-01T00:00:00Z",
        }

    if number % 10 == 3:
        site = f"*.site-{number}.example.net"
    elif number % 10 == 5:
        site = f"https://site-{number}.example.net/shop"
    else:
        site = f"site-{number}.example.net"
    # A two-hour window on one of 730 days: a spread of past, present and
    # future windows. The last site rule always covers now, for the probe.
    start = FIRST_DAY + datetime.timedelta(days=number % 730, hours=number % 24)
    end = start + datetime.timedelta(hours=2)
    if number == 99_999:
        start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        end = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
    return {
        "id": f"site-{number}",
        "comment": f"maintenance on web server {number % 500}",
        "created_by": "ops@example.net",
        "sites": [site],
        "start": rfc3339(start),
        "end": rfc3339(end),
    }


def recurring_rule(number):
    """Return recurring rule `number`, for the host slug host-`number`."""
    if number == 0:
        interval = {
            "weekdays": ["sunday"],
            "times": [{"start_time": "02:00", "end_time": "04:00"}],
            "location": "Europe/Berlin",
        }
    else:
        start_hour = number % 23
        interval = {
            "weekdays": WEEKDAY_SETS[number % len(WEEKDAY_SETS)],
            "times": [{"start_time": f"{start_hour:02}:00", "end_time": f"{start_hour + 1:02}:30"}],
            "location": ZONES[number % len(ZONES)],
        }
    if number == 999:
        # The probe's host: always in maintenance, wherever the clock is.
        interval = {"weekdays": ["monday:sunday"], "location": "UTC"}
    return {
        "id": f"recurring-{number}",
        "comment": f"weekly maintenance of host {number}",
        "hosts": [f"host-{number}"],
        "time_intervals": [interval],
    }


def plugin_configuration(site_rules, recurring_rules):
    rules = [site_rule(number) for number in range(site_rules)]
    rules += [recurring_rule(number) for number in range(recurring_rules)]
    return {
        "webhook": {
            "path": WEBHOOK_PATH,
            "token": TOKEN,
            "allowed_sources": ["127.0.0.1/32"],
            "max_body_bytes": 16384,
        },
        "max_suppression_seconds": 86400,
        "chain_gap_seconds": 0,
        "dry_run": False,
        "rules": rules,
    }


def socket_address(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def bootstrap(listener_filters, routes, clusters):
    return {
        # File-based xDS, used by the ECDS bootstrap, requires a node identity.
        "node": {"id": "bench", "cluster": "bench"},
        "admin": {"address": socket_address(0)},
        "static_resources": {
            "listeners": [
                {
                    "name": "ingress",
                    "address": socket_address(0),
                    "filter_chains": [{"filters": [connection_manager(listener_filters, routes)]}],
                }
            ],
            "clusters": clusters,
        },
    }


def connection_manager(http_filters, routes):
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "ingress",
            "codec_type": "AUTO",
            "route_config": {
                "name": "local_routes",
                "virtual_hosts": [{"name": "all_hosts", "domains": ["*"], "routes": routes}],
            },
            "http_filters": http_filters,
        },
    }


def buffer_filter():
    return {
        "name": "envoy.filters.http.buffer",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": 65536,
        },
    }


def router_filter():
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }


def wasm_config(module, configuration_text):
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {
            "name": "downtime_responder",
            "root_id": "downtime_responder",
            "vm_config": {
                "vm_id": "downtime_responder",
                "runtime": "envoy.wasm.runtime.v8",
                "code": {"local": {"filename": module}},
            },
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": configuration_text,
            },
        },
    }


def application_routes(webhook_route, plugin_off_elsewhere=False):
    """Return the routes of envoy/envoy.yaml: the webhook route, then every
    other path to the upstream with the buffer filter disabled. With
    `plugin_off_elsewhere`, that route also disables the plugin, so Envoy
    never calls into the VM for other paths."""
    per_filter = {
        "envoy.filters.http.buffer": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
            "disabled": True,
        }
    }
    if plugin_off_elsewhere:
        per_filter["envoy.filters.http.wasm"] = {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": True,
        }
    return [
        webhook_route,
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}, "typed_per_filter_config": per_filter},
    ]


def backend_cluster(port):
    return [
        {
            "name": "backend",
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": "backend",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(port)}}]}],
            },
        }
    ]


def backstop_route():
    return {
        "match": {"path": WEBHOOK_PATH},
        "direct_response": {
            "status": 503,
            "body": {"inline_string": "maintenance responder unavailable"},
        },
    }


def upstream_bootstrap():
    """Return the upstream for the pass-through case: an Envoy that responds
    to every request itself. The buffer filter makes it read the whole
    request body first. Without it, Envoy responds after the headers and does
    not reuse the connection, so the proxy under test would open one upstream
    connection per request (measured with Envoy 1.40)."""
    route = {
        "match": {"prefix": "/"},
        "direct_response": {"status": 200, "body": {"inline_string": "upstream"}},
    }
    return bootstrap([buffer_filter(), router_filter()], [route], [])


def baseline_bootstrap(upstream_port):
    """Return the chain of envoy/envoy.yaml without the plugin: the webhook
    route returns a direct_response with status 200 and the same headers and
    body length as the filter's response."""
    webhook_route = {
        "match": {"path": WEBHOOK_PATH},
        "direct_response": {"status": 200, "body": {"inline_string": DIRECT_RESPONSE_BODY}},
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": "text/plain; charset=utf-8"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            },
            {
                "header": {"key": "cache-control", "value": "no-store"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            },
        ],
    }
    return bootstrap(
        [buffer_filter(), router_filter()],
        application_routes(webhook_route),
        backend_cluster(upstream_port),
    )


def filter_bootstrap(upstream_port, module, configuration_text, plugin_off_elsewhere):
    """Return the chain of envoy/envoy.yaml: plugin, buffer filter, router."""
    wasm = {"name": "envoy.filters.http.wasm", "typed_config": wasm_config(module, configuration_text)}
    return bootstrap(
        [wasm, buffer_filter(), router_filter()],
        application_routes(backstop_route(), plugin_off_elsewhere),
        backend_cluster(upstream_port),
    )


def ecds_bootstrap(upstream_port, ecds_path):
    """Return the filter chain with the plugin's configuration from ECDS,
    read from the file `ecds_path`. Envoy reloads that file when another
    file is moved onto its path."""
    wasm = {
        "name": "downtime_responder",
        "config_discovery": {
            "config_source": {"path_config_source": {"path": ecds_path}},
            "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"],
        },
    }
    return bootstrap(
        [wasm, buffer_filter(), router_filter()],
        application_routes(backstop_route()),
        backend_cluster(upstream_port),
    )


def ecds_resource(module, configuration_text, version):
    return {
        "version_info": version,
        "resources": [
            {
                "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                "name": "downtime_responder",
                "typed_config": wasm_config(module, configuration_text),
            }
        ],
    }


def protobuf_varint(value):
    encoded = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            encoded.append(byte | 0x80)
        else:
            encoded.append(byte)
            return bytes(encoded)


def protobuf_field(number, payload):
    """Encode a length-delimited protobuf field (strings, bytes, messages)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return protobuf_varint(number << 3 | 2) + protobuf_varint(len(payload)) + payload


def protobuf_any(type_name, payload):
    return protobuf_field(1, f"type.googleapis.com/{type_name}") + protobuf_field(2, payload)


def ecds_resource_binary(module, configuration_text, version):
    """Encode the same resource as `ecds_resource` as a binary
    DiscoveryResponse, which a control plane sends over gRPC. Envoy reads a
    path_config_source file ending in .pb this way, without parsing JSON.
    Field numbers are those of the Envoy v3 API protos named below."""
    string_value = protobuf_field(1, configuration_text)

    # envoy.config.core.v3.DataSource.filename, inside AsyncDataSource.local.
    code = protobuf_field(1, protobuf_field(1, module))
    # envoy.extensions.wasm.v3.VmConfig: vm_id, runtime, code.
    vm_config = (
        protobuf_field(1, "downtime_responder")
        + protobuf_field(2, "envoy.wasm.runtime.v8")
        + protobuf_field(3, code)
    )

    # envoy.extensions.wasm.v3.PluginConfig: name, root_id, vm_config, configuration.
    plugin_config = (
        protobuf_field(1, "downtime_responder")
        + protobuf_field(2, "downtime_responder")
        + protobuf_field(3, vm_config)
        + protobuf_field(4, protobuf_any("google.protobuf.StringValue", string_value))
    )

    # envoy.extensions.filters.http.wasm.v3.Wasm.config.
    wasm = protobuf_field(1, plugin_config)

    # envoy.config.core.v3.TypedExtensionConfig: name, typed_config.
    extension = protobuf_field(1, "downtime_responder") + protobuf_field(
        2, protobuf_any("envoy.extensions.filters.http.wasm.v3.Wasm", wasm)
    )

    # envoy.service.discovery.v3.DiscoveryResponse: version_info, resources.
    return protobuf_field(1, version) + protobuf_field(
        2, protobuf_any("envoy.config.core.v3.TypedExtensionConfig", extension)
    )


def wrk_script(body):
    return f"""-- Generated by bench/generate.py: the request that every case sends.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {lua_string(body)}

-- One machine-readable line after wrk's own report. Latencies are in
-- microseconds.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%.1f max_us=%d " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout))
end
"""


def lua_string(text):
    """Return `text` as a Lua long string literal, which keeps backslashes."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_json(document, path):
    with open(path, "w", encoding="utf-8") as output:
        json.dump(document, output, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    rules = commands.add_parser("rules", help="write a plugin configuration")
    rules.add_argument("--site-rules", type=int, required=True)
    rules.add_argument("--recurring-rules", type=int, required=True)
    rules.add_argument("--out", required=True)

    envoy = commands.add_parser("envoy", help="write an Envoy bootstrap (JSON)")
    envoy.add_argument("--kind", choices=["upstream", "baseline", "filter", "ecds"], required=True)
    envoy.add_argument("--upstream-port", type=int, default=0)
    envoy.add_argument("--module", help="path of the .wasm module")
    envoy.add_argument("--rules", help="plugin configuration written by the rules command")
    envoy.add_argument("--ecds-path", help="the ECDS file the bootstrap names")
    envoy.add_argument(
        "--plugin-off-elsewhere",
        action="store_true",
        help="disable the plugin on the route for other paths (filter kind only)",
    )
    envoy.add_argument("--out", required=True)

    ecds = commands.add_parser(
        "ecds", help="write an ECDS resource file: binary protobuf if --out ends in .pb, else JSON"
    )
    ecds.add_argument("--module", required=True)
    ecds.add_argument("--rules", required=True)
    ecds.add_argument("--version", required=True)
    ecds.add_argument("--out", required=True)

    wrk = commands.add_parser("wrk", help="write the wrk Lua script")
    wrk.add_argument("--out", required=True)

    commands.add_parser("body", help="print the benchmark notification")
    commands.add_parser("probe", help="print the notification that only 100,000 rules suppress")

    arguments = parser.parse_args()
    if arguments.command == "rules":
        configuration = plugin_configuration(arguments.site_rules, arguments.recurring_rules)
        write_json(configuration, arguments.out)
    elif arguments.command == "envoy":
        write_json(envoy_document(arguments), arguments.out)
    elif arguments.command == "ecds":
        with open(arguments.rules, encoding="utf-8") as rules_file:
            configuration_text = rules_file.read()
        if arguments.out.endswith(".pb"):
            with open(arguments.out, "wb") as output:
                output.write(ecds_resource_binary(arguments.module, configuration_text, arguments.version))
        else:
            write_json(ecds_resource(arguments.module, configuration_text, arguments.version), arguments.out)
    elif arguments.command == "wrk":
        with open(arguments.out, "w", encoding="utf-8") as output:
            output.write(wrk_script(NOTIFICATION))
    elif arguments.command == "body":
        sys.stdout.write(NOTIFICATION)
    elif arguments.command == "probe":
        sys.stdout.write(PROBE_NOTIFICATION)


def envoy_document(arguments):
    if arguments.kind == "upstream":
        return upstream_bootstrap()
    if arguments.kind == "baseline":
        return baseline_bootstrap(arguments.upstream_port)
    if arguments.kind == "ecds":
        return ecds_bootstrap(arguments.upstream_port, arguments.ecds_path)
    with open(arguments.rules, encoding="utf-8") as rules_file:
        configuration_text = rules_file.read()
    return filter_bootstrap(
        arguments.upstream_port, arguments.module, configuration_text, arguments.plugin_off_elsewhere
    )


if __name__ == "__main__":
    main()
