/**
 * Logged-in EPP sessions, pooled per accreditation with at most `maxSessions` open at once (registries
 * limit concurrent sessions per registrar; exceeding it earns 2502). Callers borrow a session with
 * {@link EppSessionPool.use}; waiters are served first-come first-served.
 */
import type { Logger } from "../../logger.js";
import { EppTransportError } from "./errors.js";
import { EppSession, type EppSessionOptions } from "./session.js";

export interface PoolOptions {
  session: EppSessionOptions;
  maxSessions: number;
  /** idle sessions older than this are logged out (ms) */
  idleTimeoutMs: number;
  log: Logger;
}

export class EppSessionPool {
  private readonly idle: EppSession[] = [];
  private readonly waiters: { resolve: (s: EppSession) => void; reject: (e: Error) => void; clTRID: string }[] = [];
  private open = 0;
  private closing = false;
  private readonly sweeper: NodeJS.Timeout;
  private logoutSeq = 0;

  constructor(private readonly opts: PoolOptions) {
    this.sweeper = setInterval(() => this.sweepIdle(), Math.max(1000, Math.floor(opts.idleTimeoutMs / 2)));
    this.sweeper.unref();
  }

  /** Sessions currently open (idle + borrowed). */
  get size(): number {
    return this.open;
  }

  /**
   * Borrow a session for fn. The session goes back to the pool if still usable, else it is dropped.
   * @param clTRID used for the login command when a new session has to be opened
   * @throws whatever opening the session or fn throws
   */
  async use<T>(clTRID: string, fn: (session: EppSession) => Promise<T>): Promise<T> {
    const session = await this.acquire(clTRID);
    try {
      return await fn(session);
    } finally {
      this.release(session);
    }
  }

  /** Log out every session and refuse new borrowers. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    for (const w of this.waiters.splice(0)) w.reject(new EppTransportError("PV_EPP_POOL_CLOSED", "EPP session pool is closing"));
    const sessions = this.idle.splice(0);
    await Promise.all(sessions.map((s) => s.logout(this.logoutClTRID())));
    this.open -= sessions.length;
  }

  private logoutClTRID(): string {
    return `provisio-logout-${process.pid}-${++this.logoutSeq}`;
  }

  private async acquire(clTRID: string): Promise<EppSession> {
    if (this.closing) throw new EppTransportError("PV_EPP_POOL_CLOSED", "EPP session pool is closing");
    while (this.idle.length) {
      const s = this.idle.pop()!;
      if (s.usable) return s;
      this.open--;
    }
    if (this.open < this.opts.maxSessions) return this.openSession(clTRID);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject, clTRID }));
  }

  private async openSession(clTRID: string): Promise<EppSession> {
    this.open++;
    try {
      return await EppSession.open(this.opts.session, clTRID);
    } catch (err) {
      this.open--;
      this.serveWaiter();
      throw err;
    }
  }

  private release(session: EppSession): void {
    if (!session.usable || this.closing) {
      this.open--;
      if (session.usable) void session.logout(this.logoutClTRID());
      this.serveWaiter();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(session);
    else this.idle.push(session);
  }

  /** A slot freed up: open a session for the first waiter, if any. */
  private serveWaiter(): void {
    if (this.closing || !this.waiters.length || this.open >= this.opts.maxSessions) return;
    const waiter = this.waiters.shift()!;
    this.openSession(waiter.clTRID).then(waiter.resolve, waiter.reject);
  }

  private sweepIdle(): void {
    const cutoff = Date.now() - this.opts.idleTimeoutMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const s = this.idle[i]!;
      if (!s.usable || s.lastUsed < cutoff) {
        this.idle.splice(i, 1);
        this.open--;
        if (s.usable) void s.logout(this.logoutClTRID());
      }
    }
  }
}
