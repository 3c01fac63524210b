// Sends calls through RudderStack's Node SDK at its default settings (gzip on, flushAt 20, its own retries).
// Usage: node send.js DATA_PLANE_URL WRITE_KEY < calls.jsonl, one {"method": "track", "message": {...}} per line.
// Prints one JSON line: {"calls": n, "errors": [messages of the calls the SDK reported as failed]}.
"use strict";

const path = require("path");
const readline = require("readline");

const sdkHome = process.env.RUDDER_SDK_NODE_HOME;
const Analytics = require(path.join(sdkHome, "node_modules", "@rudderstack", "rudder-sdk-node"));

// A flush the SDK starts itself (its timer, flushAt) rejects when the upload fails; the calls' callbacks carry the
// error, which is what this script reports.
process.on("unhandledRejection", () => {});

async function main() {
  const [dataPlaneUrl, writeKey] = process.argv.slice(2);
  const client = new Analytics(writeKey, { dataPlaneUrl, logLevel: "error" });
  const errors = [];
  const pending = [];
  let calls = 0;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const { method, message } = JSON.parse(line);
    if (message.timestamp) message.timestamp = new Date(message.timestamp);
    calls += 1;
    pending.push(
      new Promise((resolve) => {
        client[method](message, (err) => {
          if (err) errors.push(String(err.message || err));
          resolve();
        });
      }),
    );
    // The SDK stamps each call to the millisecond (originalTimestamp), and the bridge orders a user's events by it:
    // two writes of one user in the same millisecond, sent in overlapping flushes, have no order anyone could
    // recover. An application's writes of one user are further apart than that; so are these.
    if (method === "identify") await new Promise((resolve) => setTimeout(resolve, 2));
  }
  // flush() sends one batch of up to flushAt events: call it until every callback has fired.
  let settled = false;
  Promise.all(pending).then(() => { settled = true; });
  while (!settled) {
    try {
      await client.flush();
    } catch (err) {
      // the failed calls' callbacks carry the error
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.stdout.write(JSON.stringify({ calls, errors }) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
