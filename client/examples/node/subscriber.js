#!/usr/bin/env node
// Streams typed Paradym events from paradym-webhooksd, resuming across drops.
//
//   node subscriber.js --address=127.0.0.1:50051 \
//       --event-type='workflowExecution.*' --after=0
//
// Prints one line per event: `SEQUENCE EVENT_TYPE DETAIL`, where DETAIL comes
// from the typed payload (the `typed_payload` oneof of
// paradym.webhooks.v1.Event), for example
// `7 workflowExecution.failed presentation_rejected`.
//
// When the stream drops (the server restarts, the network fails, the server
// ends a stream that fell too far behind), it reconnects with exponential
// backoff and asks for `start_after_sequence` = the last sequence it printed,
// so it neither misses nor repeats an event.
//
// The protos are loaded from proto/ at run time with @grpc/proto-loader; no
// generated code. Exit codes: 0 after --count events; 1 refused by the server
// (for example OUT_OF_RANGE when --after is beyond the log) or an event out of
// order; 2 usage error or protos that do not load.

'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const DEFAULT_PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

// Answers to the request itself (a bad filter, --after beyond the log or
// older than it holds): asking again would get the same answer. Every other
// end of the stream is resumed: the server went away or is stopping
// (UNAVAILABLE, or CANCELLED for a call it cut short while stopping), it
// dropped us for lagging (RESOURCE_EXHAUSTED, SUBSCRIBER_TOO_SLOW), or the
// connection broke (INTERNAL, UNKNOWN).
const FINAL = new Set([
  grpc.status.INVALID_ARGUMENT, grpc.status.OUT_OF_RANGE,
  grpc.status.NOT_FOUND, grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED,
  grpc.status.FAILED_PRECONDITION, grpc.status.UNIMPLEMENTED,
]);

const USAGE = `Usage: node subscriber.js [flags]

Streams typed Paradym events from paradym-webhooksd, resuming after drops
without gap or repeat.

  --address=HOST:PORT      the gRPC service (default 127.0.0.1:50051)
  --event-type=TYPE        only this eventType; a trailing * matches a prefix
                           (openid4vc.*); repeatable
  --after=N                start after sequence N (0: every stored event);
                           default: from now on
  --count=N                exit after printing N events
  --max-backoff=SECONDS    the longest wait between reconnects (default 5)
  --proto-dir=DIR          the proto root (default: this repository's proto/)
  --tls                    connect with TLS, trusting the system's CAs
  --ca-file=PATH           trust these CA certificates (PEM); implies --tls
  --cert-file=PATH         a client certificate (PEM) for mutual TLS, with
  --key-file=PATH          its private key; implies --tls
  --token-file=PATH        send the bearer token in this file
                           (authorization: Bearer TOKEN)
`;

function log(message) {
  process.stderr.write(`subscriber: ${message}\n`);
}

function usageError(message) {
  process.stderr.write(`subscriber: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseFlags(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        address: { type: 'string', default: '127.0.0.1:50051' },
        'event-type': { type: 'string', multiple: true, default: [] },
        after: { type: 'string' },
        count: { type: 'string' },
        'max-backoff': { type: 'string', default: '5' },
        'proto-dir': { type: 'string', default: DEFAULT_PROTO_DIR },
        tls: { type: 'boolean', default: false },
        'ca-file': { type: 'string' },
        'cert-file': { type: 'string' },
        'key-file': { type: 'string' },
        'token-file': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    usageError(error.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const flags = {
    address: values.address,
    eventTypes: values['event-type'],
    after: null,
    count: null,
    maxBackoffMs: Number(values['max-backoff']) * 1000,
    protoDir: values['proto-dir'],
    tls: values.tls || values['ca-file'] !== undefined ||
        values['cert-file'] !== undefined,
    caFile: values['ca-file'],
    certFile: values['cert-file'],
    keyFile: values['key-file'],
    tokenFile: values['token-file'],
  };
  if ((flags.certFile === undefined) !== (flags.keyFile === undefined)) {
    usageError('--cert-file and --key-file go together');
  }
  if (values.after !== undefined) {
    if (!/^\d+$/.test(values.after)) {
      usageError('--after must be a sequence number (0 or more)');
    }
    flags.after = BigInt(values.after);
  }
  if (values.count !== undefined) {
    flags.count = Number(values.count);
    if (!Number.isInteger(flags.count) || flags.count < 1) {
      usageError('--count must be at least 1');
    }
  }
  if (!(flags.maxBackoffMs > 0)) usageError('--max-backoff must be positive');
  return flags;
}

function loadService(protoDir) {
  const definition = protoLoader.loadSync(
      'paradym/webhooks/v1/webhook_service.proto', {
        // google/protobuf/{struct,timestamp}.proto come with protobufjs.
        includeDirs: [protoDir],
        keepCase: true,  // the proto's field names: event_type, typed_payload
        longs: String,  // uint64 sequence as a decimal string, never rounded
        enums: String,
        defaults: true,
        oneofs: true,  // event.typed_payload names the member that is set
      });
  return grpc.loadPackageDefinition(definition).paradym.webhooks.v1
      .WebhookService;
}

// The most telling typed field of the event, read from its oneof.
function detail(event) {
  const kind = event.typed_payload;
  if (!kind) return '-';  // an event type this version of the protos does not know
  const typed = event[kind];
  if (kind === 'workflow_execution_failed') {
    return (typed.error && typed.error.code) || '-';
  }
  if (kind === 'workflow_execution_action_executed' ||
      kind === 'workflow_execution_waiting_for_trigger') {
    return typed.workflow_action_id || '-';
  }
  if (kind.startsWith('openid4vc_issuance_')) {
    return typed.openid4vc_issuance_id || '-';
  }
  if (kind.startsWith('openid4vc_verification_')) {
    return typed.openid4vc_verification_id || '-';
  }
  // started, completed, canceled: their ids are on the event itself.
  return event.workflow_execution_id || '-';
}

// Exponential backoff with jitter, reset once a subscription holds.
class Backoff {
  constructor(initialMs, maxMs) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.nextMs = initialMs;
  }
  reset() {
    this.nextMs = this.initialMs;
  }
  delayMs() {
    const delay = this.nextMs * (0.5 + Math.random() / 2);
    this.nextMs = Math.min(this.nextMs * 2, this.maxMs);
    return delay;
  }
}

// While the server is down, calls wait for the channel to connect instead of
// failing at once.
// The channel's credentials and the metadata every call sends, from the
// TLS and token flags. Files are read once, at start.
function credentialsFrom(flags) {
  const read = (path) => (path === undefined ? null : fs.readFileSync(path));
  let token = null;
  if (flags.tokenFile !== undefined) {
    token = fs.readFileSync(flags.tokenFile, 'utf8').trim();
    if (token === '') throw new Error(`${flags.tokenFile} is empty`);
  }
  return {
    channel: flags.tls ?
        grpc.credentials.createSsl(read(flags.caFile), read(flags.keyFile),
            read(flags.certFile)) :
        grpc.credentials.createInsecure(),
    token,
  };
}

let bearerToken = null;

function waitForReady() {
  const metadata = new grpc.Metadata({ waitForReady: true });
  if (bearerToken !== null) {
    metadata.add('authorization', `Bearer ${bearerToken}`);
  }
  return metadata;
}

function lastSequence(client) {
  return new Promise((resolve, reject) => {
    client.ListEvents({ page_size: 1 }, waitForReady(), (error, page) => {
      if (error) reject(error);
      else resolve(BigInt(page.last_sequence));
    });
  });
}

// One Subscribe call. Calls onEvent for each event in order; resolves with
// the final status when the stream ends.
function subscribeOnce(client, request, onSubscribed, onEvent) {
  return new Promise((resolve) => {
    const call = client.Subscribe(request, waitForReady());
    let stopped = false;
    // The server sends its headers once the subscription is in place.
    call.on('metadata', onSubscribed);
    call.on('data', (response) => {
      for (const event of response.events) {
        if (stopped) return;
        if (onEvent(event) === 'stop') {
          stopped = true;
          call.cancel();
          resolve(null);
          return;
        }
      }
    });
    call.on('error', () => {});  // reported through 'status'
    call.on('status', resolve);
  });
}

async function run(flags, WebhookService) {
  let credentials;
  try {
    credentials = credentialsFrom(flags);
  } catch (error) {
    log(`cannot read the credentials: ${error.message}`);
    return 2;
  }
  bearerToken = credentials.token;
  const client = new WebhookService(
      flags.address, credentials.channel, {
        // gRPC's own reconnect backoff grows to 120 s by default; keep it
        // within ours, so that a restarted server is found promptly.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': flags.maxBackoffMs,
      });
  const backoff = new Backoff(100, flags.maxBackoffMs);
  // The last sequence printed; null until we know where we stand.
  let last = flags.after;
  let printed = 0;
  let outOfOrder = false;
  for (;;) {
    let status;
    if (last === null) {
      // "From now on", pinned to a sequence: had we subscribed without one,
      // a drop before the first event would lose whatever arrived while we
      // were away.
      try {
        last = await lastSequence(client);
      } catch (error) {
        status = error;
      }
    }
    if (last !== null) {
      const request = {
        event_types: flags.eventTypes,
        start_after_sequence: last.toString(),
      };
      status = await subscribeOnce(
          client, request, () => backoff.reset(), (event) => {
            const sequence = BigInt(event.sequence);
            if (sequence <= last) {
              // The server promises strictly increasing sequences after
              // start_after_sequence: say so, never print twice.
              log(`sequence ${sequence} after ${last}: the server broke its ` +
                  'ordering promise');
              outOfOrder = true;
              return 'stop';
            }
            process.stdout.write(
                `${event.sequence} ${event.event_type} ${detail(event)}\n`);
            last = sequence;
            printed += 1;
            return flags.count !== null && printed >= flags.count ? 'stop'
                                                                   : 'continue';
          });
      if (status === null) {
        client.close();
        return outOfOrder ? 1 : 0;
      }
    }
    const name = grpc.status[status.code] || String(status.code);
    const message = status.code === grpc.status.OK ?
        'the server ended the stream' : status.details;
    if (FINAL.has(status.code)) {
      log(`${name}: ${message}`);
      client.close();
      return 1;
    }
    const delay = backoff.delayMs();
    const where = last === null ? 'from now on' : `after sequence ${last}`;
    log(`${name}: ${message}; resuming ${where} in ${(delay / 1000).toFixed(1)}s`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function main() {
  const flags = parseFlags(process.argv.slice(2));
  process.stdout.on('error', (error) => {
    // The reader of our output went away (`| head`): stop quietly.
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  let WebhookService;
  try {
    WebhookService = loadService(flags.protoDir);
  } catch (error) {
    log(`cannot load the protos from ${flags.protoDir}: ${error.message}`);
    process.exit(2);
  }
  run(flags, WebhookService).then((code) => {
    // stdout to a pipe or file is written synchronously on Linux; exit now
    // rather than wait for gRPC's timers.
    process.exit(code);
  });
}

main();
