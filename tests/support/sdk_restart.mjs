// A player on the JavaScript SDK's built ES module and the `ws` package, driven line by line
// from stdin so a test can restart the server between its spins.
//
//   ROOMSERVER_WS_URL, ROOMSERVER_TOKEN, ROOMSERVER_ROOM, ROOMSERVER_SDK (clients/js)
//   stdin:  "spin <stake>"  -> stdout: {"event":"spun","spin_id":..,"balance":..,"key":..}
//           "balance"       -> stdout: {"event":"balance","balance":..}
//           "quit"
//   stdout also carries {"event":"state",...} on every connection state change.
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const sdk = process.env.ROOMSERVER_SDK;
const require = createRequire(join(sdk, "package.json"));
const WebSocket = require("ws");
const { RoomClient } = await import(pathToFileURL(join(sdk, "dist", "roomserver.mjs")).href);

const room = process.env.ROOMSERVER_ROOM;
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");
const client = new RoomClient({
  url: process.env.ROOMSERVER_WS_URL,
  getToken: async () => process.env.ROOMSERVER_TOKEN,
  WebSocket,
  backoff: { minMs: 100, maxMs: 1000 },
  requestTimeoutMs: 20000,
});
client.on("state", (change) => say({ event: "state", state: change.state, reason: change.reason }));
client.on("gap", (gap) => say({ event: "gap", ...gap }));
await client.connect();
const snapshot = await client.join(room);
say({ event: "joined", balance: snapshot.you.balance });

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.trim().split(/\s+/);
  try {
    if (command === "spin") {
      const result = await client.spin(room, { stake: Number(argument) });
      say({ event: "spun", spin_id: result.spin_id, balance: result.balance });
    } else if (command === "balance") {
      const reply = await client.balance(room);
      say({ event: "balance", balance: reply.balance });
    } else if (command === "quit") {
      break;
    }
  } catch (error) {
    say({ event: "failed", name: error.name, message: String(error.message) });
  }
}
// The input stays open (the test's pipe); it alone must not keep the process alive.
process.stdin.destroy();
client.close();
