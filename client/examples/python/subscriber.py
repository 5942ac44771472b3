#!/usr/bin/python3
"""Streams typed Paradym events from paradym-webhooksd, resuming across drops.

    /usr/bin/python3 subscriber.py --address=127.0.0.1:50051 \
        --event-type='workflowExecution.*' --after=0

Prints one line per event: `SEQUENCE EVENT_TYPE DETAIL`, where DETAIL comes
from the typed payload (the `typed_payload` oneof of paradym.webhooks.v1.Event),
for example `7 workflowExecution.failed presentation_rejected`.

When the stream drops (the server restarts, the network fails, the server
ends a stream that fell too far behind), it reconnects with exponential
backoff and asks for `start_after_sequence` = the last sequence it printed,
so it neither misses nor repeats an event.

Needs Debian's python3-grpcio and python3-protobuf, and protoc with
grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc): the stubs are
generated from proto/ into a temporary directory at every start, so they always
match the protos they are run against.

Exit codes: 0 after --count events; 1 refused by the server (for example
OUT_OF_RANGE when --after is beyond the log) or an event out of order; 2 usage
error or no stubs.
"""

import argparse
import atexit
import importlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import grpc

# Answers to the request itself (a bad filter, --after beyond the log or
# older than it holds): asking again would get the same answer. Every other
# end of the stream is resumed: the server went away or is stopping
# (UNAVAILABLE, or CANCELLED for a call it cut short while stopping), it
# dropped us for lagging (RESOURCE_EXHAUSTED, SUBSCRIBER_TOO_SLOW), or the
# connection broke (INTERNAL, UNKNOWN).
FINAL = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE,
         grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
         grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNIMPLEMENTED)

DEFAULT_PROTO_DIR = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                 "proto"))

PROTOS = ("paradym/webhooks/v1/event.proto",
          "paradym/webhooks/v1/webhook_service.proto")


def log(message):
    print(f"subscriber: {message}", file=sys.stderr, flush=True)


def generate_stubs(proto_dir, protoc, plugin, include_dirs):
    """Runs protoc on proto_dir into a fresh directory; returns the modules."""
    # protoc looks a plugin up by path only.
    plugin = shutil.which(plugin) or plugin
    out = tempfile.mkdtemp(prefix="paradym-python-stubs-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    command = [protoc, f"--proto_path={proto_dir}"]
    # google/protobuf/{struct,timestamp}.proto: the .proto files come with
    # protoc's includes (Debian: /usr/include), their Python modules with
    # python3-protobuf.
    command += [f"--proto_path={d}" for d in include_dirs if os.path.isdir(d)]
    command += [f"--python_out={out}", f"--grpc_python_out={out}",
                f"--plugin=protoc-gen-grpc_python={plugin}"]
    command += [os.path.join(proto_dir, p) for p in PROTOS]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed: {result.stderr.strip()}")
    sys.path.insert(0, out)
    messages = importlib.import_module("paradym.webhooks.v1.webhook_service_pb2")
    services = importlib.import_module(
        "paradym.webhooks.v1.webhook_service_pb2_grpc")
    return messages, services


def detail(event):
    """The most telling typed field of the event, read from its oneof."""
    kind = event.WhichOneof("typed_payload")
    if kind is None:
        return "-"  # an event type this version of the protos does not know
    typed = getattr(event, kind)
    if kind == "workflow_execution_failed":
        return typed.error.code or "-"
    if kind in ("workflow_execution_action_executed",
                "workflow_execution_waiting_for_trigger"):
        return typed.workflow_action_id or "-"
    if kind.startswith("openid4vc_issuance_"):
        return typed.openid4vc_issuance_id or "-"
    if kind.startswith("openid4vc_verification_"):
        return typed.openid4vc_verification_id or "-"
    # started, completed, canceled: their ids are on the event itself.
    return event.workflow_execution_id or "-"


class Backoff:
    """Exponential backoff with jitter, reset once a subscription holds."""

    def __init__(self, initial, maximum):
        self.initial = initial
        self.maximum = maximum
        self.next = initial

    def reset(self):
        self.next = self.initial

    def delay(self):
        delay = self.next * random.uniform(0.5, 1.0)
        self.next = min(self.next * 2, self.maximum)
        return delay


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Stream typed Paradym events from paradym-webhooksd, "
        "resuming after drops without gap or repeat.")
    parser.add_argument("--address", default="127.0.0.1:50051",
                        help="the gRPC service, HOST:PORT (default %(default)s)")
    parser.add_argument("--event-type", action="append", default=[],
                        help="only this eventType; a trailing * matches a "
                        "prefix (openid4vc.*); repeatable")
    parser.add_argument("--after", type=int, metavar="N",
                        help="start after sequence N (0: every stored event); "
                        "default: from now on")
    parser.add_argument("--count", type=int, metavar="N",
                        help="exit after printing N events")
    parser.add_argument("--max-backoff", type=float, default=5.0,
                        metavar="SECONDS",
                        help="the longest wait between reconnects "
                        "(default %(default)s)")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR,
                        help="the proto root (default: this repository's proto/)")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS, trusting the system's CAs")
    parser.add_argument("--ca-file", metavar="PATH",
                        help="trust these CA certificates (PEM); implies --tls")
    parser.add_argument("--cert-file", metavar="PATH",
                        help="a client certificate (PEM) for mutual TLS, with "
                        "--key-file; implies --tls")
    parser.add_argument("--key-file", metavar="PATH",
                        help="the client certificate's private key (PEM)")
    parser.add_argument("--token-file", metavar="PATH",
                        help="send the bearer token in this file "
                        "(authorization: Bearer TOKEN)")
    parser.add_argument("--protoc", default="protoc")
    parser.add_argument("--grpc-python-plugin", default="grpc_python_plugin")
    args = parser.parse_args(argv)
    if args.after is not None and args.after < 0:
        parser.error("--after must be a sequence number (0 or more)")
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    if not args.max_backoff > 0:
        parser.error("--max-backoff must be positive")
    if (args.cert_file is None) != (args.key_file is None):
        parser.error("--cert-file and --key-file go together")
    return args


def read_file(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def make_channel(args, options):
    """A channel with the TLS the flags ask for, else a plaintext one."""
    if not (args.tls or args.ca_file or args.cert_file):
        return grpc.insecure_channel(args.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read_file(args.ca_file),
        private_key=read_file(args.key_file),
        certificate_chain=read_file(args.cert_file))
    return grpc.secure_channel(args.address, credentials, options=options)


def call_metadata(args):
    """The bearer token from --token-file, as gRPC metadata."""
    if args.token_file is None:
        return ()
    token = read_file(args.token_file).decode().strip()
    if not token:
        raise ValueError(f"{args.token_file} is empty")
    return (("authorization", f"Bearer {token}"),)


def run(args, messages, services):
    try:
        metadata = call_metadata(args)
        channel = make_channel(args, options=[
            # While the server is down, calls wait for the channel to connect
            # (wait_for_ready below), and the channel retries with gRPC's own
            # backoff, which grows to 120 s by default: keep it within ours,
            # so that a restarted server is found promptly.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(args.max_backoff * 1000)),
        ])
    except (OSError, ValueError) as error:
        log(f"cannot read the credentials: {error}")
        return 2
    stub = services.WebhookServiceStub(channel)
    backoff = Backoff(0.1, args.max_backoff)
    # The last sequence printed; None until we know where we stand.
    last = args.after
    printed = 0
    while True:
        try:
            if last is None:
                # "From now on", pinned to a sequence: had we subscribed
                # without one, a drop before the first event would lose
                # whatever arrived while we were away.
                page = stub.ListEvents(messages.ListEventsRequest(page_size=1),
                                       metadata=metadata, wait_for_ready=True)
                last = page.last_sequence
            request = messages.SubscribeRequest(event_types=args.event_type,
                                                start_after_sequence=last)
            call = stub.Subscribe(request, metadata=metadata,
                                  wait_for_ready=True)
            # The server sends its headers once the subscription is in place:
            # from then on a drop is news, and the next retry comes quickly.
            call.initial_metadata()
            if call.is_active():
                backoff.reset()
            for response in call:
                for event in response.events:
                    if event.sequence <= last:
                        # The server promises strictly increasing sequences
                        # after start_after_sequence: say so, never print twice.
                        log(f"sequence {event.sequence} after {last}: the "
                            "server broke its ordering promise")
                        call.cancel()
                        return 1
                    print(event.sequence, event.event_type, detail(event),
                          flush=True)
                    last = event.sequence
                    printed += 1
                    if args.count is not None and printed >= args.count:
                        call.cancel()
                        return 0
            code, message = grpc.StatusCode.OK, "the server ended the stream"
        except grpc.RpcError as error:
            code, message = error.code(), error.details()
            if code in FINAL:
                log(f"{code.name}: {message}")
                return 1
        delay = backoff.delay()
        where = "from now on" if last is None else f"after sequence {last}"
        log(f"{code.name}: {message}; resuming {where} in {delay:.1f}s")
        time.sleep(delay)


def main(argv):
    args = parse_args(argv)
    try:
        messages, services = generate_stubs(
            args.proto_dir, args.protoc, args.grpc_python_plugin,
            ["/usr/include", "/usr/local/include"])
    except (OSError, RuntimeError, ImportError) as error:
        log(f"cannot generate the stubs from {args.proto_dir}: {error}")
        return 2
    try:
        return run(args, messages, services)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
