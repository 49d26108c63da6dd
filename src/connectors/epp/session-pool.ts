/**
 * Logged-in EPP sessions, pooled per accreditation with at most `maxSessions` open at once (registries
 * limit concurrent sessions per registrar; exceeding it earns 2502). Callers borrow a session with
 * {@link EppSessionPool.use}; waiters are served first-come first-served.
 *
 * One pool serves one set of connection settings. The settings of each new session (host, port, clID,
 * the secret, the CA) come from {@link PoolOptions.session}, called when the session is opened, so a
 * rotated secret or a rewritten CA file is used by the next session. When the settings themselves change,
 * the connector starts a new pool and {@link EppSessionPool.drain}s this one: borrowed sessions finish
 * their command and are logged out, idle ones at once, waiters are refused (PV_EPP_POOL_CLOSED, with
 * {@link EppSessionPool.draining} true) to be served by the new pool. Sessions still open in draining
 * pools of the same accreditation count against `maxSessions` ({@link PoolOptions.heldElsewhere}).
 *
 * A refused login (2200/2201/2501) or a registry certificate failing verification says the settings the
 * pool's sessions share are no longer accepted ({@link rejectsSettings}): the pool logs out its idle
 * sessions. A refused, dropped or slow connection does not (the registry may be busy; the idle sessions
 * may be fine).
 *
 * Refused logins are not repeated (a registry may lock an account after a few): the pool remembers the
 * last refusal for the secret it sent — as an HMAC-SHA-256 under a key random to this pool, never the
 * secret — and, one pool serving one set of settings (one fingerprint, src/connectors/epp/connector.ts),
 * for those settings. For {@link PoolOptions.loginRefusalCooldownMs} after it, a session open whose
 * resolved secret has that hash fails at once with the same EPP error (a new EppCommandError, same code
 * and result, `configSuspect`), sending nothing; a changed secret (rotated file or variable) or changed
 * settings (a new pool) log in at once. A login with a secret not yet seen to work here is sent by one
 * session open at a time: others with the same secret wait for its answer, so N queued borrowers cost
 * the registry one refused login, not N.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Logger } from "../../logger.js";
import { EppCommandError, EppTransportError, rejectsSettings } from "./errors.js";
import { EppSession, type EppSessionOptions } from "./session.js";

/**
 * How long (ms) a refused login is answered from memory while the settings and the secret stay the same.
 * Long enough that jobs retrying with backoff, and every borrower queued behind them, do not each send
 * the wrong password (registries lock accounts after a few failures); short enough that a fix made at
 * the registry alone (the account unlocked, the password set there) is tried within a minute.
 */
export const LOGIN_REFUSAL_COOLDOWN_MS = 60_000;

export interface PoolOptions {
  /**
   * The settings of the next session, called each time a session is opened (the secret is resolved and
   * the CA file read then). May throw (ConfigurationError: missing secret, unreadable CA file).
   */
  session: () => EppSessionOptions | Promise<EppSessionOptions>;
  maxSessions: number;
  /** idle sessions older than this are logged out (ms) */
  idleTimeoutMs: number;
  log: Logger;
  /** sessions of the same account held by other pools (being drained); counted against maxSessions */
  heldElsewhere?: () => number;
  /** called each time one of this pool's sessions is closed (logged out or dropped): a slot is free */
  onSessionClosed?: () => void;
  /** ms a refused login is answered from memory for the same secret (default {@link LOGIN_REFUSAL_COOLDOWN_MS}) */
  loginRefusalCooldownMs?: number;
}

/** The last login the registry refused: for which secret (keyed hash), when (ms since epoch), and its answer. */
interface Refusal {
  secret: string;
  at: number;
  error: EppCommandError;
}

export class EppSessionPool {
  private readonly idle: EppSession[] = [];
  private readonly waiters: { resolve: (s: EppSession) => void; reject: (e: Error) => void; clTRID: string }[] = [];
  /** sessions counted against maxSessions: borrowed, idle, being opened or being logged out */
  private open = 0;
  private closing = false;
  private isDraining = false;
  private readonly sweeper: NodeJS.Timeout;
  private logoutSeq = 0;
  private emptied: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  /** key of the secrets' HMACs; random per pool, never leaves it */
  private readonly secretKey = randomBytes(32);
  /** keyed hash of the secret of the last successful login */
  private goodSecret: string | undefined;
  private refusal: Refusal | undefined;
  /** the login in flight with a secret not known to work: opens with the same secret wait for its answer */
  private probe: { secret: string; done: Promise<void> } | undefined;

  constructor(private readonly opts: PoolOptions) {
    this.sweeper = setInterval(() => this.sweepIdle(), Math.max(1000, Math.floor(opts.idleTimeoutMs / 2)));
    this.sweeper.unref();
  }

  /** Sessions currently open (idle, borrowed, being opened or logged out). */
  get size(): number {
    return this.open;
  }

  /** True once {@link drain} was called: the pool takes no new borrowers. */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Borrow a session for fn. The session goes back to the pool if still usable, else it is dropped.
   * @param clTRID used for the login command when a new session has to be opened
   * @throws whatever opening the session or fn throws; EppTransportError PV_EPP_POOL_CLOSED when the
   *         pool is closing or draining
   */
  async use<T>(clTRID: string, fn: (session: EppSession) => Promise<T>): Promise<T> {
    const session = await this.acquire(clTRID);
    try {
      return await fn(session);
    } finally {
      this.release(session);
    }
  }

  /**
   * Refuse new borrowers (waiters get PV_EPP_POOL_CLOSED) and log out the idle sessions; borrowed ones
   * are logged out when they come back. Resolves once the idle sessions are logged out.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    for (const w of this.waiters.splice(0)) w.reject(new EppTransportError("PV_EPP_POOL_CLOSED", "EPP session pool is closing"));
    await Promise.all(this.idle.splice(0).map((s) => this.retire(s)));
    this.checkEmpty();
  }

  /**
   * The pool's settings were replaced: {@link close} it, then resolve once every session it had open
   * (borrowed ones included, after their command) is logged out or dropped.
   */
  drain(): Promise<void> {
    if (!this.drained) {
      this.isDraining = true;
      const empty = new Promise<void>((resolve) => (this.emptied = resolve));
      this.drained = this.close().then(() => empty);
    }
    return this.drained;
  }

  /** Log out the idle sessions (opened with settings that may be out of date); borrowed ones stay. */
  dropIdle(): void {
    for (const s of this.idle.splice(0)) void this.retire(s);
  }

  /** Open sessions for waiters while there is room (e.g. after another pool of the account closed one). */
  wake(): void {
    this.serveWaiters();
  }

  private logoutClTRID(): string {
    return `provisio-logout-${process.pid}-${++this.logoutSeq}`;
  }

  private hasRoom(): boolean {
    return this.open + (this.opts.heldElsewhere?.() ?? 0) < this.opts.maxSessions;
  }

  private async acquire(clTRID: string): Promise<EppSession> {
    if (this.closing) throw new EppTransportError("PV_EPP_POOL_CLOSED", "EPP session pool is closing");
    while (this.idle.length) {
      const s = this.idle.pop()!;
      if (s.usable) return s;
      this.closed();
    }
    if (!this.waiters.length && this.hasRoom()) return this.openSession(clTRID);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject, clTRID }));
  }

  /** Open and log in one session in a slot of its own (see the module doc for refused logins). */
  private async openSession(clTRID: string): Promise<EppSession> {
    this.open++;
    try {
      return await this.login(clTRID);
    } catch (err) {
      this.closed();
      throw err;
    }
  }

  private async login(clTRID: string): Promise<EppSession> {
    for (let waited = false; ; waited = true) {
      const options = await this.opts.session();
      const secret = this.secretHash(options.password);
      const refused = this.refusedFor(secret);
      if (refused) throw refused;
      const probe = this.probe;
      if (secret !== this.goodSecret && probe?.secret === secret && !waited) {
        // another open is sending this secret for the first time: take its answer instead of sending it
        // again; read the secret again afterwards (it may have been rotated meanwhile). Wait once only:
        // a probe that got no answer (connection failed) lets the others try at once.
        await probe.done;
        continue;
      }
      let endProbe: (() => void) | undefined;
      if (secret !== this.goodSecret && !probe) {
        const done = new Promise<void>((resolve) => (endProbe = resolve));
        this.probe = { secret, done };
      }
      try {
        const session = await EppSession.open(options, clTRID);
        this.goodSecret = secret;
        if (this.refusal?.secret === secret) this.refusal = undefined;
        return session;
      } catch (err) {
        if (err instanceof EppCommandError && err.loginRefused) {
          this.refusal = { secret, at: Date.now(), error: err };
          if (this.goodSecret === secret) this.goodSecret = undefined;
          this.opts.log.warn(
            { code: err.code, coolDownMs: this.cooldownMs },
            "EPP login refused: further sessions with these settings and this secret fail at once, without a login, until either changes or the cool-down ends",
          );
        }
        if (rejectsSettings(err)) this.dropIdle();
        throw err;
      } finally {
        if (endProbe) {
          this.probe = undefined;
          endProbe();
        }
      }
    }
  }

  private get cooldownMs(): number {
    return this.opts.loginRefusalCooldownMs ?? LOGIN_REFUSAL_COOLDOWN_MS;
  }

  /** HMAC-SHA-256 of a secret under this pool's random key (hex); the secret itself is not kept. */
  private secretHash(secret: string): string {
    return createHmac("sha256", this.secretKey).update(secret, "utf8").digest("hex");
  }

  /** A new error like the remembered refusal of `secret`, while its cool-down lasts; else undefined. */
  private refusedFor(secret: string): EppCommandError | undefined {
    const r = this.refusal;
    if (!r || r.secret !== secret) return undefined;
    const age = Date.now() - r.at;
    if (age >= this.cooldownMs) return undefined;
    this.opts.log.debug({ code: r.error.code, ageMs: age }, "EPP login not sent: refused before with these settings and this secret");
    return new EppCommandError(r.error.result, "login", {
      note: `not sent again: refused ${Math.round(age / 1000)} s ago with the same settings and secret; a changed secret or accreditation is tried at once, the same one after ${Math.round(this.cooldownMs / 1000)} s`,
      cause: r.error,
    });
  }

  private release(session: EppSession): void {
    if (!session.usable || this.closing) {
      void this.retire(session);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(session);
    else this.idle.push(session);
  }

  /** Log out (if still usable) a session that left the pool; its slot is freed once that is done. */
  private async retire(session: EppSession): Promise<void> {
    if (session.usable) await session.logout(this.logoutClTRID());
    this.closed();
  }

  /** One session is gone: free its slot, let a waiter (here or in another pool of the account) have it. */
  private closed(): void {
    this.open--;
    this.serveWaiters();
    this.opts.onSessionClosed?.();
    this.checkEmpty();
  }

  /** Open a session for each waiter there is room for, first come first served. */
  private serveWaiters(): void {
    while (!this.closing && this.waiters.length && this.hasRoom()) {
      const waiter = this.waiters.shift()!;
      this.openSession(waiter.clTRID).then(waiter.resolve, waiter.reject);
    }
  }

  private checkEmpty(): void {
    if (this.closing && this.open === 0 && this.emptied) {
      this.emptied();
      this.emptied = undefined;
    }
  }

  private sweepIdle(): void {
    const cutoff = Date.now() - this.opts.idleTimeoutMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const s = this.idle[i]!;
      if (!s.usable || s.lastUsed < cutoff) {
        this.idle.splice(i, 1);
        void this.retire(s);
      }
    }
  }
}
