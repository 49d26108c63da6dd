/**
 * Child process for test/db/embedded.test.ts: starts a throw-away embedded PostgreSQL in argv[2] on port
 * argv[3], prints READY, and on SIGINT (the terminal's Ctrl-C, sent to the whole process group) prints
 * whether the server still answered at that moment, then stops it and exits.
 */
import pg from "pg";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";

const [dataDir, port] = process.argv.slice(2);
const server = await startEmbeddedPostgres({ dataDir: dataDir!, port: Number(port), persistent: false });
process.on("SIGINT", () => {
  void (async () => {
    const client = new pg.Client({ connectionString: server.serverUrl, connectionTimeoutMillis: 2000 });
    const answered = await client.connect().then(
      async () => (await client.query("SELECT 1 AS one")).rows[0].one === 1,
      () => false,
    );
    await client.end().catch(() => undefined);
    console.log(answered ? "ANSWERED" : "GONE");
    await server.stop().catch((err: Error) => console.log(`STOP FAILED ${err.message}`));
    process.exit(0);
  })();
});
console.log("READY");
setInterval(() => undefined, 1000);
