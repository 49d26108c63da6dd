/** Small network helpers. */
import { createServer } from "node:net";

/** A TCP port of 127.0.0.1 that was free a moment ago (the OS picks it; another process may take it before the caller binds). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
