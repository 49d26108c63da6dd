/**
 * An event relay in a child process that stops dead after the broker confirmed its Nth batch and before
 * the rows are marked (test/events/relay.test.ts kills it there with SIGKILL). Environment:
 * DATABASE_URL, AMQP_URL, RELAY_BATCH_SIZE, RELAY_HANG_AT_BATCH. Prints `CONFIRMED <ids as JSON>`.
 */
import { EventRelay } from "../../src/events/relay.js";

const hangAt = Number(process.env.RELAY_HANG_AT_BATCH ?? "2");
let batches = 0;
const relay = new EventRelay({
  connectionString: process.env.DATABASE_URL!,
  amqpUrl: process.env.AMQP_URL!,
  batchSize: Number(process.env.RELAY_BATCH_SIZE ?? "5"),
  pollIntervalMs: 100,
  connectionName: "provisio-relay-test-child",
  afterConfirm: async (ids) => {
    if (++batches < hangAt) return;
    process.stdout.write(`CONFIRMED ${JSON.stringify(ids)}\n`);
    await new Promise(() => undefined); // never marks: the parent kills this process now
  },
});
await relay.start();
